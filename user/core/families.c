/* The socket families a sandbox may open; see families.h. */
#include <stdio.h>
#include <sys/socket.h>
#include "core/families.h"

_Static_assert(AF_MAX <= CBPF_FAMILY_LIMIT,
	       "the C library knows socket families above CBPF_FAMILY_LIMIT: name them");

static const char *const names[CBPF_FAMILY_LIMIT] = {
	[AF_UNSPEC] = "AF_UNSPEC", [AF_UNIX] = "AF_UNIX", [AF_INET] = "AF_INET",
	[AF_AX25] = "AF_AX25", [AF_IPX] = "AF_IPX", [AF_APPLETALK] = "AF_APPLETALK",
	[AF_NETROM] = "AF_NETROM", [AF_BRIDGE] = "AF_BRIDGE", [AF_ATMPVC] = "AF_ATMPVC",
	[AF_X25] = "AF_X25", [AF_INET6] = "AF_INET6", [AF_ROSE] = "AF_ROSE",
	[AF_DECnet] = "AF_DECnet", [AF_NETBEUI] = "AF_NETBEUI",
	[AF_SECURITY] = "AF_SECURITY", [AF_KEY] = "AF_KEY", [AF_NETLINK] = "AF_NETLINK",
	[AF_PACKET] = "AF_PACKET", [AF_ASH] = "AF_ASH", [AF_ECONET] = "AF_ECONET",
	[AF_ATMSVC] = "AF_ATMSVC", [AF_RDS] = "AF_RDS", [AF_SNA] = "AF_SNA",
	[AF_IRDA] = "AF_IRDA", [AF_PPPOX] = "AF_PPPOX", [AF_WANPIPE] = "AF_WANPIPE",
	[AF_LLC] = "AF_LLC", [AF_IB] = "AF_IB", [AF_MPLS] = "AF_MPLS", [AF_CAN] = "AF_CAN",
	[AF_TIPC] = "AF_TIPC", [AF_BLUETOOTH] = "AF_BLUETOOTH", [AF_IUCV] = "AF_IUCV",
	[AF_RXRPC] = "AF_RXRPC", [AF_ISDN] = "AF_ISDN", [AF_PHONET] = "AF_PHONET",
	[AF_IEEE802154] = "AF_IEEE802154", [AF_CAIF] = "AF_CAIF", [AF_ALG] = "AF_ALG",
	[AF_NFC] = "AF_NFC", [AF_VSOCK] = "AF_VSOCK", [AF_KCM] = "AF_KCM",
	[AF_QIPCRTR] = "AF_QIPCRTR", [AF_SMC] = "AF_SMC", [AF_XDP] = "AF_XDP",
	[AF_MCTP] = "AF_MCTP",
};

bool cbpf_family_allowed(int family)
{
	return family == AF_UNIX || family == AF_INET || family == AF_INET6 ||
	       family == AF_NETLINK;
}

const char *cbpf_family_name(int family)
{
	static char other[16];

	if (family >= 0 && family < CBPF_FAMILY_LIMIT && names[family])
		return names[family];
	snprintf(other, sizeof(other), "AF_%d", family);
	return other;
}
