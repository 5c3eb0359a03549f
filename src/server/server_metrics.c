/*
 * server_metrics.c - --metrics ADDR:PORT: Prometheus's GET /metrics on a
 * plain-HTTP listener of its own, served by worker 0's loop beside its
 * echo work.
 *
 * It is as guarded as an echo port: at most MC_MAX scrapers at once (one
 * more is closed at once), a request must arrive whole and its answer be
 * read within --handshake-timeout, a request line and its headers must
 * fit in MC_REQ_MAX bytes.  Each answer closes its connection
 * (HTTP/1.1 "Connection: close"), so a scraper holds nothing between
 * scrapes.  A request is its request line and headers; a body is not read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"

#define MC_MAX		16	/* scrapers at once */
#define MC_REQ_MAX	8192	/* request line and headers */
#define MC_PAUSE_MS	100	/* out of descriptors: accept again after */

struct mconn {
	struct srv_metrics *m;
	struct secho_event ev;
	struct secho_timer timer;
	struct mconn *prev, *next;
	char req[MC_REQ_MAX + 1];	/* and a NUL */
	size_t rlen;
	char *out;		/* the answer, while it is being written */
	size_t olen, ooff;
};

struct srv_metrics {
	struct shared *sh;
	struct secho_loop *loop;
	struct secho_event ev;
	struct secho_timer resume;	/* after EMFILE */
	struct secho_sockaddr addr;
	struct mconn *conns;
	int nconns;
};

static void
mc_close(struct mconn *c)
{
	struct srv_metrics *m = c->m;

	secho_loop_forget(m->loop, &c->ev);
	secho_loop_timer_del(m->loop, &c->timer);
	/* A request body or pipelined bytes left unread would turn the
	 * close into a reset that may destroy the answer in flight. */
	shutdown(c->ev.fd, SHUT_WR);
	secho_net_discard(c->ev.fd, MC_REQ_MAX);
	close(c->ev.fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	m->nconns--;
	free(c->out);
	free(c);
}

/* Everything the workers counted, as Prometheus text; NULL: no memory. */
static char *
render(struct srv_metrics *m, size_t *len)
{
	struct shared *sh = m->sh;
	const struct metrics *w[SECHO_MAX_WORKERS];
	struct mt_process pr;
	char *text = NULL;
	FILE *f;

	memset(&pr, 0, sizeof(pr));
	pr.start_time = sh->start_time;
	pr.uptime = (double)(secho_now_us() - sh->start_us) / 1e6;
	pr.reloads_ok = sh->reloads_ok;
	pr.reloads_failed = sh->reloads_failed;
	pr.last_reload_ok = sh->last_reload_ok;
	pr.last_reload_time = sh->last_reload_time;
	pr.workers = sh->nworkers;
	for (size_t i = 0; i < sh->nsocks; i++)
		pr.transports |= 1u << sh->socks[i].proto;
	for (int i = 0; i < sh->nworkers; i++)
		w[i] = &sh->workers[i].mt;
	if ((f = open_memstream(&text, len)) == NULL)
		return NULL;
	if (mt_render(f, w, sh->nworkers, &pr) == -1) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	return text;
}

/* Queues an answer: status line, headers, and body; 0 or -1. */
static int
answer(struct mconn *c, const char *status, const char *type,
    const char *extra, const char *body, size_t blen, int head_only)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %s\r\nContent-Type: %s"
	    "\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
	    type, blen, extra);

	if (head_only)
		blen = 0;
	if (n < 0 || (size_t)n >= sizeof(hdr) ||
	    (c->out = malloc((size_t)n + blen)) == NULL)
		return -1;
	memcpy(c->out, hdr, (size_t)n);
	if (blen > 0)
		memcpy(c->out + n, body, blen);
	c->olen = (size_t)n + blen;
	c->ooff = 0;
	return 0;
}

static int
error_answer(struct mconn *c, const char *status, const char *extra,
    int head_only)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	return answer(c, status, "text/plain; charset=utf-8", extra, body,
	    (size_t)n, head_only);
}

/*
 * The request line of a complete request: GET or HEAD of /metrics (any
 * query string is ignored, as Prometheus's own exporters do).
 */
static int
handle(struct mconn *c)
{
	char method[16], target[1024], version[16], *body;
	size_t blen = 0;
	int head_only, rc;

	if (sscanf(c->req, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0)
		return error_answer(c, "400 Bad Request", "", 0);
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only)
		return error_answer(c, "405 Method Not Allowed",
		    "Allow: GET, HEAD\r\n", 0);
	if (strcspn(target, "?") != 8 || strncmp(target, "/metrics", 8) != 0)
		return error_answer(c, "404 Not Found", "", head_only);
	if ((body = render(c->m, &blen)) == NULL)
		return error_answer(c, "500 Internal Server Error", "",
		    head_only);
	rc = answer(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
	    "", body, blen, head_only);
	free(body);
	return rc;
}

/*
 * Reads until the blank line that ends the headers.  Returns 1 once an
 * answer is queued, 0 while more is to come, -1 to close.
 */
static int
read_request(struct mconn *c)
{
	for (;;) {
		ssize_t n = read(c->ev.fd, c->req + c->rlen,
		    sizeof(c->req) - 1 - c->rlen);
		size_t len;

		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;	/* gone, or a reset */
		c->rlen += (size_t)n;
		c->req[c->rlen] = '\0';
		/* Up to the first NUL: a request line or header with one
		 * in it is not HTTP (a body is not looked at). */
		len = strlen(c->req);
		if (strstr(c->req, "\r\n\r\n") != NULL ||
		    strstr(c->req, "\n\n") != NULL)
			return handle(c) == 0 ? 1 : -1;
		if (len != c->rlen)
			return error_answer(c, "400 Bad Request", "", 0) == 0 ?
			    1 : -1;
		if (c->rlen == sizeof(c->req) - 1)
			return error_answer(c, "431 Request Header Fields Too "
			    "Large", "", 0) == 0 ? 1 : -1;
	}
}

static void
mc_io(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct mconn *c = container_of(ev, struct mconn, ev);
	int rc;

	(void)l;
	(void)mask;
	if (c->out == NULL) {
		if ((rc = read_request(c)) == -1) {
			mc_close(c);
			return;
		}
		if (rc == 0)
			return;		/* more to come */
	}
	while (c->ooff < c->olen) {
		ssize_t n = send(ev->fd, c->out + c->ooff, c->olen - c->ooff,
		    MSG_NOSIGNAL);

		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (secho_loop_watch(c->m->loop, &c->ev,
			    SECHO_EV_WRITE) == -1)
				mc_close(c);
			return;
		}
		if (n == -1) {
			mc_close(c);
			return;
		}
		c->ooff += (size_t)n;
	}
	mc_close(c);
}

static void
mc_timeout(struct secho_loop *l, struct secho_timer *t)
{
	(void)l;
	mc_close(container_of(t, struct mconn, timer));
}

static void
metrics_resume(struct secho_loop *l, struct secho_timer *t)
{
	struct srv_metrics *m = container_of(t, struct srv_metrics, resume);

	if (secho_loop_watch(l, &m->ev, SECHO_EV_READ) == -1)
		secho_loop_timer_set(l, &m->resume, MC_PAUSE_MS);
}

static void
metrics_accept(struct secho_loop *l, struct secho_event *ev, int mask)
{
	struct srv_metrics *m = container_of(ev, struct srv_metrics, ev);
	struct secho_sockaddr peer;
	struct mconn *c;
	int fd;

	(void)mask;
	/* A burst is bounded by MC_MAX; beyond it, clients are let go. */
	for (int i = 0; i < 2 * MC_MAX; i++) {
		if ((fd = secho_net_accept(ev->fd, &peer)) == -1) {
			/* Out of descriptors the scraper stays queued, and
			 * the socket stays readable: look away a moment
			 * rather than spin on it. */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED) {
				secho_loop_forget(l, &m->ev);
				secho_loop_timer_set(l, &m->resume,
				    MC_PAUSE_MS);
			}
			return;
		}
		if (m->nconns >= MC_MAX ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->m = m;
		secho_event_init(&c->ev, fd, mc_io);
		secho_timer_init(&c->timer, mc_timeout);
		if (secho_loop_watch(l, &c->ev, SECHO_EV_READ) == -1) {
			close(fd);
			free(c);
			continue;
		}
		secho_loop_timer_set(l, &c->timer, (uint64_t)m->sh->cfg->
		    handshake_timeout_ms);
		c->next = m->conns;
		if (m->conns != NULL)
			m->conns->prev = c;
		m->conns = c;
		m->nconns++;
	}
}

int
srv_metrics_open(struct shared *sh)
{
	const struct secho_endpoint *ep = &sh->cfg->metrics;
	struct srv_metrics *m;
	int fd;

	if (!sh->cfg->metrics_on)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		secho_error_errno("calloc");
		return -1;
	}
	fd = secho_net_listen(ep->host, ep->port, 0, 64, 0, &m->addr);
	if (fd == -1) {
		char why[256];

		snprintf(why, sizeof(why), "%s", secho_error());
		secho_error_set("--metrics: %s", why);
		free(m);
		return -1;
	}
	m->sh = sh;
	secho_event_init(&m->ev, fd, metrics_accept);
	secho_timer_init(&m->resume, metrics_resume);
	sh->metrics = m;
	return 0;
}

int
srv_metrics_start(struct shared *sh)
{
	struct srv_metrics *m = sh->metrics;

	if (m == NULL)
		return 0;
	m->loop = sh->workers[0].loop;
	return secho_loop_watch(m->loop, &m->ev, SECHO_EV_READ);
}

const struct secho_sockaddr *
srv_metrics_addr(const struct shared *sh)
{
	return sh->metrics != NULL ? &sh->metrics->addr : NULL;
}

void
srv_metrics_close(struct shared *sh)
{
	struct srv_metrics *m = sh->metrics;

	if (m == NULL)
		return;
	while (m->conns != NULL)
		mc_close(m->conns);
	if (m->loop != NULL) {
		secho_loop_forget(m->loop, &m->ev);
		secho_loop_timer_del(m->loop, &m->resume);
	}
	close(m->ev.fd);
	free(m);
	sh->metrics = NULL;
}
