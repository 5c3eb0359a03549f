/*
 * bench.c - secho-bench, the load generator: setup, the worker threads
 * and the four phases they go through together (connect, run, measure,
 * tear down), progress on stderr, and the merged result; the verdict on
 * it is src/cmd/secho-bench.c's.
 *
 * The main thread only reads the server's /proc figures at the phase
 * boundaries, so the connection setup and teardown are not charged to
 * the operations measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

static volatile sig_atomic_t interrupted;

struct bench {
	const struct secho_bench_config *cfg;
	struct secho_bench_run run;
	struct secho_bench_worker *w;
	int nw;
	unsigned char *pattern;
	char name[SECHO_HOST_MAX];
	double cpu0;
	long rss0;
};

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
note(const struct secho_bench_config *cfg, const char *fmt, const char *a)
{
	if (cfg->quiet)
		return;
	fprintf(stderr, "%s: ", SECHO_BENCH_PROG);
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
}

static int
resolve_peer(const struct secho_bench_config *cfg, struct secho_sockaddr *p)
{
	struct addrinfo hints, *res;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = secho_proto_is_dgram(cfg->proto) ? SOCK_DGRAM :
	    SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cfg->port);
	if ((rc = getaddrinfo(cfg->host, port, &hints, &res)) != 0) {
		secho_error_set("cannot resolve %s: %s", cfg->host,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(&p->ss, res->ai_addr, res->ai_addrlen);
	p->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Every connection is a descriptor: take the hard limit, or fail early. */
static int
raise_nofile(const struct secho_bench_config *cfg)
{
	rlim_t need = (rlim_t)cfg->conns + 64 + 4 * (rlim_t)cfg->threads;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		struct rlimit up = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)	/* root may */
			return 0;
	}
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		secho_error_set("%ld connections need %llu descriptors, but "
		    "RLIMIT_NOFILE is %llu (raise the hard limit: ulimit -Hn)",
		    cfg->conns, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* The stream every connection sends: pseudo-random, so a shift shows. */
static unsigned char *
make_pattern(size_t extra)
{
	size_t len = SECHO_BENCH_PATTERN_P + extra;
	unsigned char *p = malloc(len);
	uint64_t x = 0x9E3779B97F4A7C15ULL;

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < SECHO_BENCH_PATTERN_P; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
	/* The tail repeats the start: offset o is byte o % P wherever a
	 * write or read of up to extra bytes begins. */
	for (size_t i = SECHO_BENCH_PATTERN_P; i < len; i++)
		p[i] = p[i - SECHO_BENCH_PATTERN_P];
	return p;
}

/* Thread i's share: connections, operations (-n) and rate. */
static void
share(struct bench *b, int i, uint32_t *first)
{
	const struct secho_bench_config *cfg = b->cfg;
	struct secho_bench_worker *w = &b->w[i];
	long n = cfg->conns / b->nw + (i < cfg->conns % b->nw);

	w->id = i;
	w->cfg = cfg;
	w->run = &b->run;
	w->epfd = -1;
	w->nconns = (uint32_t)n;
	w->first_conn = *first;
	*first += (uint32_t)n;
	w->quota = UINT64_MAX;
	if (cfg->mode == SECHO_BENCH_HOLD)
		w->quota = (uint64_t)n;
	else if (cfg->count > 0)
		w->quota = (uint64_t)(cfg->count / b->nw +
		    (i < cfg->count % b->nw));
	if (cfg->rate > 0)
		w->interval_ns = 1e9 / (cfg->rate * (double)n /
		    (double)cfg->conns);
}

static int
setup_workers(struct bench *b)
{
	const struct secho_bench_config *cfg = b->cfg;
	int dgram = secho_proto_is_dgram(cfg->proto);
	uint32_t first = 0;

	b->nw = cfg->threads;
	if ((b->w = calloc((size_t)b->nw, sizeof(*b->w))) == NULL) {
		secho_error_errno("calloc");
		return -1;
	}
	for (int i = 0; i < b->nw; i++) {
		share(b, i, &first);
		if (!secho_proto_is_secure(cfg->proto))
			continue;
		/* One context per thread: the session it keeps for
		 * --resume is not shared between threads. */
		b->w[i].tls = secho_tls_new(&cfg->tls, SECHO_TLS_CLIENT, dgram);
		if (b->w[i].tls == NULL)
			return -1;
	}
	return 0;
}

/* Sets out->failure for a failed setup step; returns -1. */
static int
setup_failed(struct secho_bench_outcome *out, enum secho_bench_failure f)
{
	out->failure = f;
	return -1;
}

static int
setup(struct bench *b, const struct secho_bench_config *cfg,
    struct secho_bench_outcome *out)
{
	size_t extra = cfg->size > 65536 ? cfg->size : 65536;

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->run.cfg = cfg;
	snprintf(b->name, sizeof(b->name), "%s", cfg->servername != NULL ?
	    cfg->servername : cfg->host);
	b->run.name = b->name;
	if (raise_nofile(cfg) == -1 || resolve_peer(cfg, &b->run.peer) == -1)
		return setup_failed(out, SECHO_BENCH_FAIL_IO);
	if ((b->pattern = make_pattern(extra)) == NULL) {
		secho_error_errno("malloc");
		return setup_failed(out, SECHO_BENCH_FAIL_IO);
	}
	b->run.pattern = b->pattern;
	if (cfg->tls.insecure)
		note(cfg, "warning: --insecure: the server's certificate is "
		    "not verified%s", "");
	if (setup_workers(b) == -1)	/* unusable TLS files */
		return setup_failed(out, SECHO_BENCH_FAIL_SETUP);
	return 0;
}

static int
setup_done(struct secho_bench_worker *w)
{
	return w->opening == 0 ||
	    atomic_load_explicit(&w->run->stop, memory_order_relaxed);
}

static int
run_done(struct secho_bench_worker *w)
{
	if (atomic_load_explicit(&w->run->stop, memory_order_relaxed))
		return 1;
	if (w->t_end != 0 && w->now >= w->t_end)
		return 1;
	return w->quota != UINT64_MAX && w->issued >= w->quota &&
	    w->retired >= w->issued;
}

/* hold: a held connection the server closed (or wrote to) failed. */
static void
check_held(struct secho_bench_worker *w)
{
	char b;

	for (uint32_t i = 0; i < w->nconns; i++) {
		struct secho_bench_conn *c = &w->conns[i];

		if (c->state != BC_READY || (recv(c->c.fd, &b, 1,
		    MSG_PEEK | MSG_DONTWAIT) == -1 && errno == EAGAIN))
			continue;
		w->st.errors++;
		secho_error_format(w->last_error, sizeof(w->last_error),
		    "the server closed a held connection");
	}
}

/* The run phase of one worker, with its clock. */
static void
worker_run(struct secho_bench_worker *w)
{
	const struct secho_bench_config *cfg = w->cfg;

	w->now = secho_bench_now_ns();
	w->t0 = w->now;
	if (cfg->count == 0 && cfg->mode != SECHO_BENCH_HOLD)
		w->t_end = w->t0 + (uint64_t)cfg->duration_ms * 1000000ULL;
	w->running = 1;
	if (!w->fatal && !atomic_load(&w->run->stop))
		secho_bench_mode_ops(cfg->mode)->go(w);
	secho_bench_loop(w, run_done);
	w->t_done = secho_bench_now_ns();
	/* A quota ends with its last echo, not with the wait for the
	 * --timeout of a lost datagram. */
	if (w->quota != UINT64_MAX && w->t_last_op > w->t0)
		w->t_done = w->t_last_op;
	w->running = 0;
}

static void *
worker_main(void *arg)
{
	struct secho_bench_worker *w = arg;
	enum secho_bench_mode m = w->cfg->mode;
	char go;

	if (read(w->run->gate_fd, &go, 1) != 1)
		return NULL;	/* another thread could not start */
	/* Open loop: wake at the intended send time, not up to 50 us
	 * (the default timer slack) after it. */
	if (w->cfg->rate > 0)
		(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	if (secho_bench_worker_init(w) == -1) {
		secho_error_format(w->last_error, sizeof(w->last_error),
		    "out of memory");
		w->fatal = 1;
		atomic_store(&w->run->fatal, 1);
		atomic_store(&w->run->stop, 1);
	} else if (m != SECHO_BENCH_HS && m != SECHO_BENCH_HOLD) {
		/* Connections first; the measured phase only echoes. */
		w->now = secho_bench_now_ns();
		for (uint32_t i = 0; i < w->nconns && !w->fatal; i++)
			secho_bench_conn_open(w, &w->conns[i]);
		secho_bench_loop(w, setup_done);
	}
	pthread_barrier_wait(&w->run->phase);		/* set up */
	worker_run(w);
	atomic_fetch_add(&w->run->finished, 1);
	pthread_barrier_wait(&w->run->phase);		/* measured */
	pthread_barrier_wait(&w->run->phase);		/* held */
	if (m == SECHO_BENCH_HOLD && w->conns != NULL)
		check_held(w);
	secho_bench_worker_free(w);
	return NULL;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Starts every thread, or none: they wait at a gate (a pipe) until all
 * exist, since a missing one would leave the others at a barrier.
 */
static int
start_threads(struct bench *b)
{
	sigset_t block, old;
	int gate[2], i, err = 0;

	if (pipe2(gate, O_CLOEXEC) == -1) {
		secho_error_errno("pipe");
		return -1;
	}
	b->run.gate_fd = gate[0];
	pthread_barrier_init(&b->run.phase, NULL, (unsigned)b->nw + 1);
	/* Signals go to the main thread, which turns them into stop. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < b->nw && err == 0; i++)
		err = pthread_create(&b->w[i].thread, NULL, worker_main,
		    &b->w[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		close(gate[1]);		/* EOF: the started ones return */
		while (--i > 0)
			pthread_join(b->w[i - 1].thread, NULL);
		close(gate[0]);
		pthread_barrier_destroy(&b->run.phase);
		errno = err;
		secho_error_errno("cannot start a thread");
		return -1;
	}
	for (i = 0; i < b->nw; i++)
		(void)!write(gate[1], "g", 1);
	close(gate[1]);
	return 0;
}

static void
progress_line(struct bench *b, double secs, uint64_t *last)
{
	uint64_t ops = 0, errs = 0, bad = 0, lost = 0;

	for (int i = 0; i < b->nw; i++) {
		struct secho_bench_live *l = &b->w[i].live;

		ops += atomic_load_explicit(&l->ops, memory_order_relaxed);
		errs += atomic_load_explicit(&l->errors, memory_order_relaxed);
		bad += atomic_load_explicit(&l->mismatches,
		    memory_order_relaxed);
		lost += atomic_load_explicit(&l->lost, memory_order_relaxed);
	}
	fprintf(stderr, "%s: %.0f s: %llu ops (%llu/s), %llu errors, "
	    "%llu mismatches", SECHO_BENCH_PROG, secs,
	    (unsigned long long)ops, (unsigned long long)(ops - *last),
	    (unsigned long long)errs, (unsigned long long)bad);
	if (secho_proto_is_dgram(b->cfg->proto))
		fprintf(stderr, ", %llu lost", (unsigned long long)lost);
	fputc('\n', stderr);
	*last = ops;
}

/* Until every worker finished its run phase; progress each second. */
static void
wait_run(struct bench *b)
{
	const struct secho_bench_config *cfg = b->cfg;
	int planned_long = cfg->count == 0 && cfg->mode != SECHO_BENCH_HOLD &&
	    cfg->duration_ms > 3000;
	uint64_t start = secho_bench_now_ns(), last = 0;
	int next = 1;

	while (atomic_load(&b->run.finished) < b->nw) {
		sleep_ms(10);
		if (interrupted)
			atomic_store(&b->run.stop, 1);
		if ((double)(secho_bench_now_ns() - start) / 1e9 < next)
			continue;
		if (!cfg->quiet && (planned_long || next > 3))
			progress_line(b, next, &last);
		next++;
	}
}

/* hold: the connections stay open and idle for --duration. */
static double
hold_wait(struct bench *b)
{
	const struct secho_bench_config *cfg = b->cfg;
	uint64_t start = secho_bench_now_ns(), ms = 0;
	int next = 1;

	while (ms < (uint64_t)cfg->duration_ms && !interrupted) {
		sleep_ms(ms + 50 < (uint64_t)cfg->duration_ms ? 50 :
		    (int)((uint64_t)cfg->duration_ms - ms));
		ms = (secho_bench_now_ns() - start) / 1000000ULL;
		if (ms < (uint64_t)next * 1000)
			continue;
		if (!cfg->quiet && cfg->duration_ms > 3000)
			fprintf(stderr, "%s: %d s: holding %ld connections "
			    "for %.0f s, server RSS %ld KiB\n",
			    SECHO_BENCH_PROG, next, cfg->conns,
			    cfg->duration_ms / 1e3,
			    secho_bench_rss_kib(cfg->pid));
		next++;
	}
	return (double)(secho_bench_now_ns() - start) / 1e9;
}

/* Phases 2 to 4 as the main thread sees them; fills r. */
static void
drive(struct bench *b, struct secho_bench_result *r)
{
	const struct secho_bench_config *cfg = b->cfg;
	int hold = cfg->mode == SECHO_BENCH_HOLD;
	double held = 0;

	pthread_barrier_wait(&b->run.phase);		/* set up */
	b->cpu0 = secho_bench_cpu_s(cfg->pid);
	b->rss0 = hold ? secho_bench_rss_kib(cfg->pid) : -1;
	wait_run(b);
	pthread_barrier_wait(&b->run.phase);		/* measured */
	r->cpu_s = b->cpu0 >= 0 ? secho_bench_cpu_s(cfg->pid) - b->cpu0 : -1;
	r->rss_kib = -1;
	if (hold && !atomic_load(&b->run.fatal)) {
		held = hold_wait(b);
		if (b->rss0 >= 0 && secho_bench_rss_kib(cfg->pid) >= 0)
			r->rss_kib = (double)(secho_bench_rss_kib(cfg->pid) -
			    b->rss0) / (double)cfg->conns;
	}
	pthread_barrier_wait(&b->run.phase);		/* held */
	for (int i = 0; i < b->nw; i++)
		pthread_join(b->w[i].thread, NULL);
	r->open_s = hold ? 0 : -1;
	r->duration_s = held;
}

static void
collect(struct bench *b, struct secho_bench_result *r)
{
	uint64_t t0 = UINT64_MAX, t1 = 0;

	for (int i = 0; i < b->nw; i++) {
		struct secho_bench_worker *w = &b->w[i];

		secho_bench_stats_merge(&r->st, &w->st);
		if (w->t0 < t0)
			t0 = w->t0;
		if (w->t_done > t1)
			t1 = w->t_done;
	}
	r->threads = b->nw;
	if (t1 > t0) {
		if (b->cfg->mode == SECHO_BENCH_HOLD)
			r->open_s = (double)(t1 - t0) / 1e9;
		r->duration_s += (double)(t1 - t0) / 1e9;
	}
}

/* The worker's message that says why the run failed. */
static const char *
failure(const struct bench *b)
{
	for (int i = 0; i < b->nw; i++)
		if (b->w[i].fatal)
			return b->w[i].last_error;
	for (int i = 0; i < b->nw; i++)
		if (b->w[i].last_error[0] != '\0')
			return b->w[i].last_error;
	return "";
}

/*
 * Prints the report and fills out for the program's verdict, or fails
 * (-1) when a worker gave up before anything was echoed.
 */
static int
finish(struct bench *b, const struct secho_bench_result *r,
    struct secho_bench_outcome *out)
{
	const struct secho_bench_stats *s = &r->st;

	if (atomic_load(&b->run.fatal) && s->ops == 0) {
		secho_error_set("%s", failure(b));
		out->failure = SECHO_BENCH_FAIL_IO;
		return -1;
	}
	secho_bench_report(b->cfg, r, stdout);
	out->ops = s->ops;
	out->errors = s->errors;
	out->mismatches = s->mismatches;
	out->late = s->late;
	out->gave_up = atomic_load(&b->run.fatal);
	secho_error_format(out->last_error, sizeof(out->last_error), "%s",
	    failure(b));
	return 0;
}

/* The phases, once setup has worked. */
static int
bench_go(struct bench *b, struct secho_bench_outcome *out)
{
	struct secho_bench_result *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		secho_error_errno("calloc");
		return setup_failed(out, SECHO_BENCH_FAIL_IO);
	}
	if (start_threads(b) == -1) {
		free(r);
		return setup_failed(out, SECHO_BENCH_FAIL_IO);
	}
	drive(b, r);
	collect(b, r);
	rc = finish(b, r, out);
	close(b->run.gate_fd);
	pthread_barrier_destroy(&b->run.phase);
	free(r);
	return rc;
}

int
secho_bench_run(const struct secho_bench_config *cfg,
    struct secho_bench_outcome *out)
{
	struct sigaction sa;
	struct bench b;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: sleeps end */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = setup(&b, cfg, out);
	if (rc == 0)
		rc = bench_go(&b, out);
	for (int i = 0; b.w != NULL && i < b.nw; i++)
		secho_tls_free(b.w[i].tls);	/* NULL once a worker ran */
	free(b.w);
	free(b.pattern);
	return rc;
}
