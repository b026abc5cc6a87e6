/* libFuzzer target: DNS messages read as a query, refused, matched against
 * an answer, their addresses taken and their SVCB address hints stripped;
 * the input's text as an allowed-name pattern too; the input split into a
 * query and an upstream's answer as the forwarder prepares it; the input
 * as a DNS-over-TCP stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>
#include "core/dnsmsg.h"

static uint8_t out[65536], again[65536];

/* A pattern that is taken matches itself. */
static void names(const uint8_t *data, size_t size)
{
	struct cbpf_dns_names n = { 0 };
	char *text = malloc(size + 1);

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cbpf_dns_names_add(&n, text) == 0 && !cbpf_dns_names_match(&n, text))
		abort();
	cbpf_dns_names_free(&n);
	free(text);
}

/* A query's refusal is a message that answers it. */
static void query(const uint8_t *data, size_t size)
{
	struct cbpf_dns_query q;
	size_t outlen;
	int rc;

	if (cbpf_dns_query_parse(data, size, &q) == 0 && strlen(q.name) >= sizeof(q.name))
		abort();
	rc = cbpf_dns_reply_error(data, size, LDNS_RCODE_REFUSED, out, sizeof(out), &outlen);
	if (rc == 0 && (outlen > sizeof(out) || !cbpf_dns_answer_matches(data, size, out, outlen)))
		abort();
	if (rc && rc != -EBADMSG)
		abort();
}

/* The input as an answer to its first question (as ldns writes its name),
 * or to a name of its answer section. */
static void answer(const uint8_t *data, size_t size)
{
	struct cbpf_dns_addr a[8];
	const ldns_rr_list *l;
	ldns_pkt *p;
	char *name;
	size_t n = 99;
	int rc;

	if (ldns_wire2pkt(&p, data, size) != LDNS_STATUS_OK)
		return;
	l = ldns_rr_list_rr_count(ldns_pkt_question(p)) ? ldns_pkt_question(p) : ldns_pkt_answer(p);
	name = ldns_rr_list_rr_count(l) ? ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(l, 0))) : NULL;
	if (name) {
		rc = cbpf_dns_answer_addrs(data, size, name, a, 8, &n);
		if (!ldns_pkt_qr(p) ? rc != -EBADMSG :
		    rc == -E2BIG ? n != 0 : rc != 0 || n > 8)
			abort();
	}
	/* No message is both a query and an answer. */
	if (cbpf_dns_answer_matches(data, size, data, size))
		abort();
	free(name);
	ldns_pkt_free(p);
}

/* What comes out of stripping is read by ldns, and has nothing left to
 * strip. */
static void strip(const uint8_t *data, size_t size)
{
	size_t outlen, againlen;
	ldns_pkt *p;
	int rc;

	rc = cbpf_dns_strip_hints(data, size, out, sizeof(out), &outlen);
	if (rc == -EBADMSG)
		return;
	if (rc)
		abort();
	if (ldns_wire2pkt(&p, out, outlen) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(p);
	if (cbpf_dns_strip_hints(out, outlen, again, sizeof(again), &againlen) ||
	    againlen != outlen || memcmp(again, out, outlen))
		abort();
}

/* The first byte says where the query ends and the answer starts. */
static void prepare(const uint8_t *data, size_t size)
{
	static uint8_t answer[65536];
	struct cbpf_dns_query q;
	struct cbpf_dns_addr a[8];
	size_t split, outlen = 0, n = 99;
	int rc;

	if (size < 2)
		return;
	split = 1 + data[0] % (size - 1);
	if (cbpf_dns_query_parse(data + 1, split - 1, &q))
		return;
	memcpy(answer, data + split, size - split);
	rc = cbpf_dns_answer_prepare(data + 1, split - 1, q.name, answer, size - split, out,
				     sizeof(out), &outlen, a, 8, &n);
	if (rc == 0 && (outlen > sizeof(out) || n > 8 ||
			!cbpf_dns_answer_matches(data + 1, split - 1, answer, size - split)))
		abort();
	if (rc == -E2BIG && n != 0)
		abort();
}

/* Messages taken from a stream never run past it. */
static void tcp_stream(const uint8_t *data, size_t size)
{
	size_t off = 0, mlen;
	int rc;

	while ((rc = cbpf_dns_tcp_next(data + off, size - off, 4096, &mlen)) == 1) {
		if (mlen > 4096 || off + 2 + mlen > size)
			abort();
		off += 2 + mlen;
	}
	if (rc == -EMSGSIZE && mlen <= 4096)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	prepare(data, size);
	tcp_stream(data, size);
	names(data, size);
	query(data, size);
	answer(data, size);
	strip(data, size);
	return 0;
}
