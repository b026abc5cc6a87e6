/* JSON text out: the one escaper of every JSON the command and the probe
 * print. The base layer: depends on nothing of the project. */
#ifndef CBPF_JSON_H
#define CBPF_JSON_H

#include <stdio.h>

/* Writes `s` as a JSON string literal, quotes included: '"' and '\\'
 * escaped, control characters as \u00XX. */
void cbpf_json_string(FILE *f, const char *s);

#endif
