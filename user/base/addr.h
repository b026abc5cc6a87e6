/* Addresses as the maps and rules hold them: 16 bytes, IPv4 v4-mapped
 * (::ffff:a.b.c.d). The base layer: depends on nothing of the project. */
#ifndef CBPF_ADDR_H
#define CBPF_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* `ipv4` (4 bytes, network order) v4-mapped. */
static inline void cbpf_v4_mapped(uint8_t out[16], const void *ipv4)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memcpy(out, mapped, sizeof(mapped));
	memcpy(out + 12, ipv4, 4);
}

/* Whether `a` is a v4-mapped IPv4 address (its last 4 bytes). */
static inline bool cbpf_is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, mapped, sizeof(mapped));
}

#endif
