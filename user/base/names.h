/* The names the command prints for the programs' numbers: denial reasons
 * and protocols. The base layer: depends on nothing but the ABI header. */
#ifndef CBPF_NAMES_H
#define CBPF_NAMES_H

#include <stdint.h>

/* Name of an enum cbpf_reason ("no_rule", ...), "?" when out of range. */
const char *cbpf_reason_name(unsigned reason);

/* "any" (CBPF_PROTO_ANY), "tcp", "udp", "icmp", "icmpv6", else the number
 * written into `buf`. */
const char *cbpf_proto_name(uint8_t proto, char buf[4]);

#endif
