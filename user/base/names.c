/* Names of the programs' numbers (names.h). */
#include <stdio.h>
#include "claude_bpf.h"
#include "base/names.h"

static const char *const reason_names[CBPF_REASON__COUNT] = {
	[CBPF_REASON_NO_POLICY] = "no_policy",
	[CBPF_REASON_NO_RULE] = "no_rule",
	[CBPF_REASON_DENY_RULE] = "deny_rule",
	[CBPF_REASON_EXPIRED] = "expired",
	[CBPF_REASON_LOOPBACK] = "loopback",
	[CBPF_REASON_SOCKET_TYPE] = "socket_type",
	[CBPF_REASON_BAD_PACKET] = "bad_packet",
	[CBPF_REASON_DNS_NAME] = "dns_name",
};

const char *cbpf_reason_name(unsigned reason)
{
	return reason < CBPF_REASON__COUNT && reason_names[reason] ? reason_names[reason] : "?";
}

const char *cbpf_proto_name(uint8_t proto, char buf[4])
{
	switch (proto) {
	case CBPF_PROTO_ANY: return "any";
	case CBPF_PROTO_TCP: return "tcp";
	case CBPF_PROTO_UDP: return "udp";
	case CBPF_PROTO_ICMP: return "icmp";
	case CBPF_PROTO_ICMPV6: return "icmpv6";
	}
	snprintf(buf, 4, "%u", proto);
	return buf;
}
