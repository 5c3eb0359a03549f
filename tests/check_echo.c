/*
 * check_echo.c - the server's echo (src/server/echo.c) driven through a
 * fake transport whose reads and writes return scripted results and
 * record what was asked of them: partial and retried writes, WANT_* on
 * either side, EOF behind a buffer, bytes pending inside the transport,
 * the byte count, the budget and the buffer pool.
 */
#include <stdio.h>
#include <string.h>

#include "../src/server/echo.h"
#include "testutil.h"

#define BUFSIZE		16	/* the pool's buffers: small, to fill them */
#define SCRIPT_MAX	32
#define CALLS_MAX	64
#define OFFER_MAX	64	/* bytes of each offered write kept */

struct fake_read {
	ssize_t rc;		/* bytes (from data), or an enum secho_io */
	const char *data;
	size_t pending;		/* what pending() says after this read */
};

struct fake_offer {
	char data[OFFER_MAX];
	size_t len;
	ssize_t rc;
};

/* The transport: scripts in, a record of every call out. */
static struct fake {
	struct secho_conn c;
	struct fake_read reads[SCRIPT_MAX];
	int nreads, ri;
	ssize_t writes[SCRIPT_MAX];	/* bytes taken, or an enum secho_io */
	int nwrites, wi;
	size_t pending;
	char calls[CALLS_MAX + 1];	/* 'R' and 'W' in call order */
	int ncalls;
	struct fake_offer offer[CALLS_MAX];	/* every write asked */
	int noffer;
	char out[256];			/* every byte a write took */
	size_t nout;
} f;

static struct echo e;
static struct echo_pool pool;

static void
record(char what)
{
	ck_assert_msg(f.ncalls < CALLS_MAX, "more than %d transport calls: "
	    "the echo should have stopped long before", CALLS_MAX);
	f.calls[f.ncalls++] = what;
}

/* Past its script the socket is empty: SECHO_WANT_READ. */
static ssize_t
fake_read(struct secho_conn *c, void *buf, size_t len)
{
	const struct fake_read *r;

	(void)c;
	record('R');
	if (f.ri == f.nreads)
		return SECHO_WANT_READ;
	r = &f.reads[f.ri++];
	if (r->rc > 0) {
		ck_assert_msg((size_t)r->rc <= len, "read of %zu bytes into "
		    "room for %zu: the echo must offer its whole buffer",
		    (size_t)r->rc, len);
		memcpy(buf, r->data, (size_t)r->rc);
		f.pending = r->pending;
	}
	return r->rc;
}

/* Past its script a write takes everything. */
static ssize_t
fake_write(struct secho_conn *c, const void *buf, size_t len)
{
	struct fake_offer *o;
	ssize_t rc = f.wi < f.nwrites ? f.writes[f.wi++] : (ssize_t)len;

	(void)c;
	record('W');
	ck_assert_msg(len > 0, "a write of 0 bytes: nothing was pending");
	o = &f.offer[f.noffer++];
	o->len = len;
	o->rc = rc;
	memcpy(o->data, buf, len < OFFER_MAX ? len : OFFER_MAX);
	if (rc > 0) {
		ck_assert_msg((size_t)rc <= len, "script bug: write takes %zd "
		    "of %zu", rc, len);
		ck_assert_msg(f.nout + (size_t)rc <= sizeof(f.out),
		    "more echoed than the tests ever send");
		memcpy(f.out + f.nout, buf, (size_t)rc);
		f.nout += (size_t)rc;
	}
	return rc;
}

static size_t
fake_pending(const struct secho_conn *c)
{
	(void)c;
	return f.pending;
}

static const struct secho_transport_ops fake_ops = {
	.name = "fake",
	.read = fake_read,
	.write = fake_write,
	.pending = fake_pending,
};

static void
setup(void)
{
	memset(&f, 0, sizeof(f));
	memset(&e, 0, sizeof(e));
	memset(&pool, 0, sizeof(pool));
	f.c.ops = &fake_ops;
	f.c.fd = -1;
	pool.bufsize = BUFSIZE;
}

static void
teardown(void)
{
	echo_pool_put(&pool, e.buf);
	echo_pool_free(&pool);
}

static void
script_read(ssize_t rc, const char *data, size_t pending)
{
	ck_assert(f.nreads < SCRIPT_MAX);
	f.reads[f.nreads++] = (struct fake_read){ rc, data, pending };
}

static void
read_bytes(const char *data, size_t pending)
{
	script_read((ssize_t)strlen(data), data, pending);
}

static void
script_write(ssize_t rc)
{
	ck_assert(f.nwrites < SCRIPT_MAX);
	f.writes[f.nwrites++] = rc;
}

static ssize_t
step(int draining)
{
	return echo_step(&e, &f.c, &pool, draining);
}

static void
expect_calls(const char *want, const char *why)
{
	ck_assert_msg(strcmp(f.calls, want) == 0, "transport calls %s, "
	    "expected %s: %s", f.calls, want, why);
}

static void
expect_out(const char *want)
{
	ck_assert_msg(f.nout == strlen(want) && memcmp(f.out, want,
	    f.nout) == 0, "echoed '%.*s', expected '%s'", (int)f.nout, f.out,
	    want);
	ck_assert_msg(e.echoed == strlen(want), "byte count %llu, expected "
	    "%zu (the bytes writes took)", e.echoed, strlen(want));
}

static void
expect_offer(int i, const char *data, const char *why)
{
	size_t len = strlen(data);

	ck_assert_msg(i < f.noffer, "write %d never came: %s", i, why);
	ck_assert_msg(f.offer[i].len == len && memcmp(f.offer[i].data, data,
	    len) == 0, "write %d offered '%.*s' (%zu bytes), expected '%s' "
	    "(%zu): %s", i, (int)f.offer[i].len, f.offer[i].data,
	    f.offer[i].len, data, len, why);
}

START_TEST(test_short_read_goes_idle)
{
	ssize_t rc;

	read_bytes("ping", 0);
	rc = step(0);
	ck_assert_msg(rc == 4, "read step returned %zd, expected 4", rc);
	ck_assert_msg(e.len == 4 && e.off == 0, "after a read of 4: off %zu "
	    "len %zu", e.off, e.len);
	ck_assert_msg(e.sock_empty, "a short read with nothing pending "
	    "inside the transport empties the socket");
	rc = step(0);
	ck_assert_msg(rc == SECHO_WANT_READ, "the write that finished the "
	    "echo of an emptying read returned %zd, not SECHO_WANT_READ: a "
	    "second read would only say EAGAIN", rc);
	expect_calls("RW", "no read after the socket was seen empty");
	expect_out("ping");
	ck_assert_msg(e.off == 0 && e.len == 0, "buffer not reset once all "
	    "was written: off %zu len %zu", e.off, e.len);
}
END_TEST

START_TEST(test_partial_write_repeats_bytes)
{
	ssize_t want[] = { 10, 3, SECHO_WANT_WRITE, 4, 3 };

	read_bytes("abcdefghij", 1);
	script_write(3);
	script_write(SECHO_WANT_WRITE);
	script_write(4);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ssize_t rc = step(0);

		ck_assert_msg(rc == want[i], "step %zu returned %zd, expected "
		    "%zd", i, rc, want[i]);
	}
	expect_offer(0, "abcdefghij", "the whole read is offered first");
	expect_offer(1, "defghij", "the rest after 3 bytes went");
	expect_offer(2, "defghij", "a write retried after SECHO_WANT_WRITE "
	    "must repeat exactly the same bytes and length (TLS)");
	expect_offer(3, "hij", "the rest after 4 more went");
	expect_calls("RWWWW", "no read while bytes wait to be written");
	expect_out("abcdefghij");
}
END_TEST

START_TEST(test_write_wants_read)
{
	int moved;
	ssize_t rc;

	read_bytes("hello", 0);
	script_write(SECHO_WANT_READ);	/* e.g. TLS wants the peer's record */
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_WANT_READ, "run returned %zd, expected the "
	    "write's SECHO_WANT_READ", rc);
	ck_assert_msg(moved, "the read moved bytes: moved should be set");
	ck_assert_msg(e.buf != NULL && e.len == 5 && e.off == 0, "a write "
	    "waiting for a read must keep its buffer and bytes (buf %p, off "
	    "%zu, len %zu)", (void *)e.buf, e.off, e.len);
	ck_assert_msg(pool.nfree == 0, "the buffer went back to the pool with "
	    "5 bytes still to echo");
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_WANT_READ, "second run returned %zd", rc);
	expect_calls("RWW", "the retry is the write again, not a read");
	expect_offer(1, "hello", "the retried write repeats the same bytes");
	expect_out("hello");
	ck_assert_msg(e.buf == NULL && pool.nfree == 1, "idle after the echo: "
	    "the buffer belongs back in the pool (buf %p, %zu free)",
	    (void *)e.buf, pool.nfree);
}
END_TEST

START_TEST(test_read_wants_write)
{
	ssize_t rc;

	script_read(SECHO_WANT_WRITE, NULL, 0);	/* TLS must send first */
	read_bytes("xy", 0);
	rc = step(0);
	ck_assert_msg(rc == SECHO_WANT_WRITE, "read step returned %zd, "
	    "expected the transport's SECHO_WANT_WRITE", rc);
	ck_assert_msg(e.len == 0, "a read that moved nothing left len %zu",
	    e.len);
	rc = step(0);
	ck_assert_msg(rc == 2, "the retried read returned %zd, expected 2", rc);
	expect_calls("RR", "nothing to write: the retry is the read");
}
END_TEST

START_TEST(test_eof_after_buffer)
{
	ssize_t want[] = { 11, 4, 7, SECHO_IO_EOF };

	read_bytes("hello world", 0);
	script_read(SECHO_IO_EOF, NULL, 0);
	script_write(4);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ssize_t rc = step(1);	/* draining: no idle shortcut */

		ck_assert_msg(rc == want[i], "step %zu returned %zd, expected "
		    "%zd: what was read is written before EOF is seen", i, rc,
		    want[i]);
	}
	expect_calls("RWWR", "EOF read only once the buffer went out");
	expect_out("hello world");
}
END_TEST

START_TEST(test_pending_is_not_empty)
{
	ssize_t rc;

	read_bytes("abc", 5);	/* 5 more decrypted bytes inside TLS */
	step(0);
	ck_assert_msg(!e.sock_empty, "pending() > 0 after a short read: the "
	    "transport still holds bytes, epoll will not wake us for them");
	rc = step(0);
	ck_assert_msg(rc == 3, "write step returned %zd, expected 3 (and the "
	    "echo carries on reading)", rc);
	read_bytes("defgh", 0);
	rc = step(0);
	ck_assert_msg(rc == 5, "the read of the pending bytes returned %zd",
	    rc);
	ck_assert_msg(e.sock_empty, "nothing pending after this short read");
	expect_calls("RWR", "the pending bytes are read at once");
}
END_TEST

START_TEST(test_full_read_is_not_empty)
{
	static const char full[] = "0123456789abcdef";

	ck_assert(sizeof(full) - 1 == BUFSIZE);
	read_bytes(full, 0);
	ck_assert_msg(step(0) == BUFSIZE, "the read did not fill the buffer");
	ck_assert_msg(!e.sock_empty, "a read that filled the buffer may have "
	    "left more in the socket: it cannot count as empty");
	ck_assert_msg(step(0) == BUFSIZE, "the write after a full read should "
	    "return its byte count, not SECHO_WANT_READ");
}
END_TEST

START_TEST(test_draining_asks_socket)
{
	ssize_t rc;

	read_bytes("abc", 0);
	step(1);
	ck_assert_msg(e.sock_empty, "a short read, nothing pending");
	rc = step(1);
	ck_assert_msg(rc == 3, "a draining echo returned %zd after its write, "
	    "expected 3: it must read until the socket says empty", rc);
	rc = step(1);
	ck_assert_msg(rc == SECHO_WANT_READ, "the read of an empty socket "
	    "returned %zd", rc);
	expect_calls("RWR", "draining confirms emptiness with a real read");
}
END_TEST

START_TEST(test_byte_count)
{
	read_bytes("abcdefgh", 1);
	read_bytes("ijkl", 0);
	script_write(5);
	script_write(SECHO_WANT_WRITE);
	script_write(SECHO_IO_ERR);
	step(0);
	ck_assert_msg(e.echoed == 0, "a read counted as echoed: %llu",
	    e.echoed);
	step(0);
	ck_assert_msg(e.echoed == 5, "after a write took 5: %llu", e.echoed);
	step(0);
	ck_assert_msg(e.echoed == 5, "a SECHO_WANT_WRITE counted: %llu",
	    e.echoed);
	ck_assert_msg(step(0) == SECHO_IO_ERR, "the write error not returned");
	ck_assert_msg(e.echoed == 5, "a failed write counted: %llu",
	    e.echoed);
	step(0);	/* the rest: "fgh" */
	step(0);	/* the next read */
	step(0);	/* "ijkl" */
	expect_out("abcdefghijkl");
}
END_TEST

START_TEST(test_budget_yields)
{
	static const char full[] = "0123456789abcdef";
	int moved;
	ssize_t rc;

	for (int i = 0; i < ECHO_BUDGET; i++)
		read_bytes(full, 0);	/* more than one turn can echo */
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc >= 0, "run returned %zd with bytes still coming: it "
	    "should have run out of budget and yielded", rc);
	ck_assert_msg(f.ncalls == ECHO_BUDGET, "%d transport calls in one "
	    "turn, expected the budget of %d", f.ncalls, ECHO_BUDGET);
	ck_assert_msg(moved, "bytes moved but moved is 0");
	ck_assert_msg(e.echoed == (unsigned long long)ECHO_BUDGET / 2 *
	    BUFSIZE, "echoed %llu in %d steps of %d bytes", e.echoed,
	    ECHO_BUDGET, BUFSIZE);
	ck_assert_msg(e.buf != NULL, "a yielding echo keeps its buffer");
}
END_TEST

START_TEST(test_idle_returns_buffer)
{
	unsigned char *pooled;
	int moved;
	ssize_t rc;

	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_WANT_READ, "run on an empty socket returned "
	    "%zd", rc);
	ck_assert_msg(!moved, "nothing moved but moved is set (it would keep "
	    "an idle connection from timing out)");
	ck_assert_msg(e.buf == NULL && pool.nfree == 1, "an idle echo holds "
	    "no buffer: buf %p, %zu in the pool", (void *)e.buf, pool.nfree);
	pooled = pool.free;
	read_bytes("x", 0);
	script_write(SECHO_WANT_WRITE);
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_WANT_WRITE, "run returned %zd", rc);
	ck_assert_msg(e.buf == pooled && pool.nfree == 0, "the pooled buffer "
	    "was not reused (buf %p, pooled %p, %zu free)", (void *)e.buf,
	    (void *)pooled, pool.nfree);
}
END_TEST

START_TEST(test_errors_end_run)
{
	int moved;
	ssize_t rc;

	read_bytes("abc", 0);
	script_write(SECHO_IO_ERR);
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_IO_ERR, "run returned %zd, expected the "
	    "write's SECHO_IO_ERR", rc);
	ck_assert_msg(e.echoed == 0 && f.nout == 0, "bytes counted on a "
	    "failed write");
	expect_calls("RW", "nothing after a fatal error");
	memset(&f.calls, 0, sizeof(f.calls));
	f.ncalls = 0;
	e.off = e.len = 0;
	script_read(SECHO_IO_ERR, NULL, 0);
	rc = echo_run(&e, &f.c, &pool, 0, &moved);
	ck_assert_msg(rc == SECHO_IO_ERR && e.len == 0, "a failed read "
	    "returned %zd and left len %zu", rc, e.len);
}
END_TEST

Suite *
echo_suite(void)
{
	Suite *s = suite_create("echo");
	TCase *tc = tcase_create("steps");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_short_read_goes_idle);
	tcase_add_test(tc, test_partial_write_repeats_bytes);
	tcase_add_test(tc, test_write_wants_read);
	tcase_add_test(tc, test_read_wants_write);
	tcase_add_test(tc, test_eof_after_buffer);
	tcase_add_test(tc, test_pending_is_not_empty);
	tcase_add_test(tc, test_full_read_is_not_empty);
	tcase_add_test(tc, test_draining_asks_socket);
	tcase_add_test(tc, test_byte_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_budget_yields);
	tcase_add_test(tc, test_idle_returns_buffer);
	tcase_add_test(tc, test_errors_end_run);
	suite_add_tcase(s, tc);
	return s;
}
