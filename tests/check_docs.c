/*
 * check_docs.c - the manual pages kept true to the programs: the long
 * options of each --help are exactly the option items of its page, each
 * page renders without a groff warning, and make install / make uninstall
 * into a DESTDIR put every file in place with its mode and take it away.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define MAN "/usr/bin/man"
#define NAMES_MAX 96
#define NAME_LEN 96

static const char *const progs[] = { "secho-server", "secho-client",
    "secho-bench" };
#define NPROGS ((int)(sizeof(progs) / sizeof(progs[0])))

/* A small set of strings: option names, or paths under a DESTDIR. */
struct names {
	int n;
	char v[NAMES_MAX][NAME_LEN];
};

static int
names_has(const struct names *s, const char *v)
{
	for (int i = 0; i < s->n; i++) {
		if (strcmp(s->v[i], v) == 0)
			return 1;
	}
	return 0;
}

static void
names_add(struct names *s, const char *prefix, const char *v, size_t len)
{
	char buf[NAME_LEN];

	snprintf(buf, sizeof(buf), "%s%.*s", prefix, (int)len, v);
	if (names_has(s, buf))
		return;
	ck_assert_msg(s->n < NAMES_MAX, "more than %d names", NAMES_MAX);
	snprintf(s->v[s->n++], NAME_LEN, "%s", buf);
}

/* The members of a that b lacks, space-separated ("" when none). */
static const char *
names_minus(const struct names *a, const struct names *b, char *out,
    size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < a->n; i++) {
		if (!names_has(b, a->v[i]))
			snprintf(out + strlen(out), len - strlen(out), " %s",
			    a->v[i]);
	}
	return out;
}

/* Adds "--name" for the name p starts with; 1 if there was one. */
static int
add_long(struct names *s, const char *p)
{
	size_t n = 0;

	while (islower((unsigned char)p[n]) || isdigit((unsigned char)p[n]) ||
	    (n > 0 && p[n] == '-'))
		n++;
	if (n > 0)
		names_add(s, "--", p, n);
	return n > 0;
}

/*
 * The long options of --help: a --name that starts an option line, after
 * its indentation or after a short option ("  -p, --port N").
 */
static void
help_options(const char *help, struct names *s)
{
	for (const char *line = help; *line != '\0'; ) {
		const char *p = line + strspn(line, " ");
		const char *nl = strchr(line, '\n');

		if (p[0] == '-' && isalnum((unsigned char)p[1]) &&
		    strncmp(p + 2, ", ", 2) == 0)
			p += 4;
		if (strncmp(p, "--", 2) == 0)
			add_long(s, p + 2);
		line = nl != NULL ? nl + 1 : line + strlen(line);
	}
}

/*
 * The long names of the page's option items (".It Fl -port Ar port",
 * ".It Fl p Ar port , Fl -port Ar port"); an ".It Fl" item without one
 * goes into bad, since the page may list no option --help does not.
 */
static void
page_options(const char *page, struct names *s, char *bad, size_t len)
{
	bad[0] = '\0';
	for (const char *line = page; *line != '\0'; ) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - line) : strlen(line);
		int found = 0;

		if (strncmp(line, ".It Fl ", 7) == 0) {
			for (const char *p = line; (p = strstr(p, " Fl -")) !=
			    NULL && p < line + ll; p += 5)
				found |= add_long(s, p + 5);
			if (!found)
				snprintf(bad + strlen(bad), len - strlen(bad),
				    " [%.*s]", (int)ll, line);
		}
		line += ll + (nl != NULL);
	}
}

/* docs/man/prog.1 of the checkout, into path; its text (malloc'd). */
static char *
page_source(const char *prog, char *path, size_t len)
{
	char *text;

	snprintf(path, len, "%s/docs/man/%s.1", tu_root(), prog);
	text = tu_slurp(path, NULL);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	return text;
}

START_TEST(options_match_help)
{
	const char *prog = progs[_i];
	struct names *help = calloc(1, sizeof(*help));
	struct names *page = calloc(1, sizeof(*page));
	char only_help[2048], only_page[2048], bad[2048], path[512];
	char *src = page_source(prog, path, sizeof(path));
	struct tu_result r;

	ck_assert(help != NULL && page != NULL);
	ck_assert_int_eq(tu_run((const char *[]){ tu_bin(prog), "--help",
	    NULL }, NULL, 0, 10000, &r), 0);
	help_options(r.out, help);
	page_options(src, page, bad, sizeof(bad));
	ck_assert_msg(help->n > 0, "%s --help lists no long option", prog);
	names_minus(help, page, only_help, sizeof(only_help));
	names_minus(page, help, only_page, sizeof(only_page));
	ck_assert_msg(only_help[0] == '\0' && only_page[0] == '\0' &&
	    bad[0] == '\0', "%s and %s --help differ: in --help only:%s; "
	    "in the page only:%s; page items without a long option:%s",
	    path, prog, only_help, only_page, bad);
	tu_result_free(&r);
	free(src);
	free(help);
	free(page);
}
END_TEST

/* The NAME section of a rendered page as one line (wrapping undone). */
static void
rendered_name(const char *out, char *name, size_t len)
{
	const char *p = strstr(out, "\nNAME\n");
	size_t n = 0;

	name[0] = '\0';
	for (p = p != NULL ? p + 6 : ""; *p != '\0' && *p != '\n'; ) {
		const char *nl = strchr(p, '\n');
		size_t ll;

		p += strspn(p, " \t");
		ll = nl != NULL ? (size_t)(nl - p) : strlen(p);
		/* A word hyphenated across lines: U+2010 at the end. */
		if (ll >= 3 && memcmp(p + ll - 3, "\xe2\x80\x90", 3) == 0)
			n += snprintf(name + n, len - n, "%.*s", (int)ll - 3, p);
		else
			n += snprintf(name + n, len - n, "%.*s ", (int)ll, p);
		ck_assert(n < len);
		p += ll + (nl != NULL);
	}
	while (n > 0 && name[n - 1] == ' ')
		name[--n] = '\0';
}

START_TEST(page_renders)
{
	const char *prog = progs[_i];
	char path[512], want[512], name[512], title[64];
	char *src = page_source(prog, path, sizeof(path));
	char *nd = strstr(src, "\n.Nd ");
	struct tu_result r;

	if (access(MAN, X_OK) != 0) {
		tu_skip("%s is not installed (Debian package man-db; run "
		    "scripts/deps.sh)", MAN);
		free(src);
		return;
	}
	ck_assert_msg(nd != NULL, "%s has no .Nd", path);
	snprintf(want, sizeof(want), "%s \xe2\x80\x94 %.*s", prog,
	    (int)strcspn(nd + 5, "\n"), nd + 5);
	ck_assert_int_eq(setenv("MANWIDTH", "80", 1), 0);
	/* The rendering is kept for its NAME line, not thrown away. */
	tu_run((const char *[]){ MAN, "--warnings", "-E", "UTF-8", "-l", path,
	    NULL }, NULL, 0, 60000, &r);
	ck_assert_msg(r.status == 0 && r.err[0] == '\0', "man --warnings -l "
	    "%s: exit %d: %s", path, r.status, r.err);
	for (size_t i = 0; i < strlen(prog) && i < sizeof(title) - 4; i++)
		title[i] = (char)toupper((unsigned char)prog[i]);
	snprintf(title + strlen(prog), sizeof(title) - strlen(prog), "(1)");
	ck_assert_msg(strncmp(r.out, title, strlen(title)) == 0,
	    "%s renders without the title %s: %.80s", path, title, r.out);
	rendered_name(r.out, name, sizeof(name));
	ck_assert_msg(strcmp(name, want) == 0, "%s: NAME is '%s', not '%s'",
	    path, name, want);
	tu_result_free(&r);
	free(src);
}
END_TEST

/* --- make install / make uninstall --- */

/* What build/obj/sysconfdir held before the test ("" if nothing). */
static char sysconf_before[512];

static void
sysconf_read(char *buf, size_t len)
{
	char path[512];
	char *s;

	snprintf(path, sizeof(path), "%s/build/obj/sysconfdir", tu_root());
	s = tu_slurp(path, NULL);
	snprintf(buf, len, "%.*s", s != NULL ? (int)strcspn(s, "\n") : 0,
	    s != NULL ? s : "");
	free(s);
}

/* make with the caller's target and variables, in the checkout. */
static int
make_checkout(const char *const *args, struct tu_result *r)
{
	const char *argv[24] = { "/usr/bin/env", "-u", "MAKEFLAGS", "-u",
	    "MAKELEVEL", "-u", "MFLAGS", "make", "-C", tu_root(), "-s" };
	int n = 11;

	while (*args != NULL && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	return tu_run(argv, NULL, 0, 240000, r);
}

static void
install_setup(void)
{
	sysconf_read(sysconf_before, sizeof(sysconf_before));
}

/*
 * make install SYSCONFDIR=/etc compiles /etc into the checkout's plain
 * programs (certs.c): build them again as they were, for the suites that
 * run them next.  In the runner, so that a failed test restores too.
 */
static void
install_teardown(void)
{
	char now[512], var[600];
	struct tu_result r;

	sysconf_read(now, sizeof(now));
	if (sysconf_before[0] == '\0' || strcmp(now, sysconf_before) == 0)
		return;
	snprintf(var, sizeof(var), "SYSCONFDIR=%s", sysconf_before);
	if (make_checkout((const char *[]){ "all", var, NULL }, &r) != 0)
		fprintf(stderr, "docs: cannot rebuild with %s: %s%s\n", var,
		    r.out, r.err);
	tu_result_free(&r);
}

/* Every file under dir that is not a directory, relative to dir. */
static void
tree_files(const char *dir, struct names *s)
{
	struct tu_result r;

	ck_assert_int_eq(tu_run((const char *[]){ "/usr/bin/find", dir, "!",
	    "-type", "d", "-printf", "%P\\n", NULL }, NULL, 0, 10000, &r), 0);
	for (const char *p = r.out; *p != '\0'; ) {
		size_t ll = strcspn(p, "\n");

		if (ll > 0)
			names_add(s, "", p, ll);
		p += ll + (p[ll] == '\n');
	}
	tu_result_free(&r);
}

static void
assert_mode(const char *dest, const char *file, mode_t mode)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dest, file);
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg((st.st_mode & 07777) == mode, "%s has mode %04o, not "
	    "%04o", path, (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

/* The first @VAR@ in text, or NULL (SystemCallFilter=@set is none). */
static const char *
placeholder(const char *text)
{
	for (const char *p = text; (p = strchr(p, '@')) != NULL; p++) {
		size_t n = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");

		if (n > 0 && p[1 + n] == '@')
			return p;
	}
	return NULL;
}

/* The installed file, which must contain each of want and no @VAR@. */
static void
assert_text(const char *dest, const char *file, const char *const *want)
{
	char path[600];
	char *text;

	snprintf(path, sizeof(path), "%s/%s", dest, file);
	text = tu_slurp(path, NULL);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	ck_assert_msg(placeholder(text) == NULL, "%s keeps an unsubstituted "
	    "%.40s", path, placeholder(text));
	for (; *want != NULL; want++)
		ck_assert_msg(strstr(text, *want) != NULL, "%s lacks '%s'",
		    path, *want);
	free(text);
}

/* secho-mkcerts is scripts/mkcerts.py for the system's python3. */
static void
assert_mkcerts(const char *dest)
{
	char path[600];
	char *src, *inst;

	snprintf(path, sizeof(path), "%s/scripts/mkcerts.py", tu_root());
	src = tu_slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/usr/bin/secho-mkcerts", dest);
	inst = tu_slurp(path, NULL);
	ck_assert(src != NULL && inst != NULL);
	ck_assert_msg(strncmp(inst, "#!/usr/bin/python3\n", 19) == 0,
	    "%s starts with %.*s", path, (int)strcspn(inst, "\n"), inst);
	ck_assert_msg(strcmp(strchr(inst, '\n'), strchr(src, '\n')) == 0,
	    "%s differs from scripts/mkcerts.py beyond its first line", path);
	free(src);
	free(inst);
}

static const char *const installed[] = {
	"usr/bin/secho-server", "usr/bin/secho-client", "usr/bin/secho-bench",
	"usr/bin/secho-mkcerts",
	"usr/share/man/man1/secho-server.1",
	"usr/share/man/man1/secho-client.1",
	"usr/share/man/man1/secho-bench.1",
	"usr/lib/systemd/system/secho.service",
	"usr/lib/systemd/system/secho.socket",
};
#define NINSTALLED (sizeof(installed) / sizeof(installed[0]))

static void
assert_installed(const char *dest)
{
	struct names *want = calloc(1, sizeof(*want));
	struct names *got = calloc(1, sizeof(*got));
	char extra[2048], missing[2048], dir[600];
	struct stat st;

	ck_assert(want != NULL && got != NULL);
	for (size_t i = 0; i < NINSTALLED; i++)
		names_add(want, "", installed[i], strlen(installed[i]));
	tree_files(dest, got);
	names_minus(got, want, extra, sizeof(extra));
	names_minus(want, got, missing, sizeof(missing));
	ck_assert_msg(extra[0] == '\0' && missing[0] == '\0', "make install "
	    "into %s: unexpected:%s; missing:%s", dest, extra, missing);
	for (size_t i = 0; i < NINSTALLED; i++)
		assert_mode(dest, installed[i], i < 4 ? 0755 : 0644);
	snprintf(dir, sizeof(dir), "%s/etc/secho", dest);
	ck_assert_msg(stat(dir, &st) == 0 && S_ISDIR(st.st_mode),
	    "make install made no %s", dir);
	free(want);
	free(got);
}

/*
 * Into DESTDIR, with a packager's PREFIX and SYSCONFDIR.  That nothing
 * lands outside DESTDIR is checked only as far as a test can: every file
 * under it is one we expect, in the place we expect (a stray absolute
 * path would show up as a missing file, not be caught where it went).
 */
START_TEST(install_uninstall)
{
	char plain[512], dest[400], destvar[450];
	const char *vars[] = { destvar, "PREFIX=/usr", "SYSCONFDIR=/etc",
	    NULL };
	struct names *left = calloc(1, sizeof(*left));
	struct tu_result r;

	snprintf(plain, sizeof(plain), "%s/bin/secho-server", tu_root());
	if (access(plain, X_OK) != 0) {
		tu_skip("no plain build in %s (make all): make install would "
		    "build one in the checkout", tu_root());
		free(left);
		return;
	}
	snprintf(dest, sizeof(dest), "%s/root", tu_tmpdir());
	snprintf(destvar, sizeof(destvar), "DESTDIR=%s", dest);
	make_checkout((const char *[]){ "install", vars[0], vars[1], vars[2],
	    NULL }, &r);
	ck_assert_msg(r.status == 0, "make install: exit %d: %s%s", r.status,
	    r.out, r.err);
	tu_result_free(&r);
	assert_installed(dest);
	assert_text(dest, "usr/lib/systemd/system/secho.service",
	    (const char *[]){ "\nExecStart=/usr/bin/secho-server ",
	    ":/etc/secho/server.pem\n", NULL });
	assert_text(dest, "usr/lib/systemd/system/secho.socket",
	    (const char *[]){ NULL });
	assert_mkcerts(dest);

	make_checkout((const char *[]){ "uninstall", vars[0], vars[1],
	    vars[2], NULL }, &r);
	ck_assert_msg(r.status == 0, "make uninstall: exit %d: %s%s",
	    r.status, r.out, r.err);
	tu_result_free(&r);
	tree_files(dest, left);
	ck_assert_msg(left->n == 0, "make uninstall left %s (and %d more)",
	    left->n > 0 ? left->v[0] : "", left->n - 1);
	snprintf(plain, sizeof(plain), "%s/etc/secho", dest);
	ck_assert_msg(access(plain, F_OK) == -1 && errno == ENOENT,
	    "make uninstall left the empty %s", plain);
	free(left);
}
END_TEST

Suite *
docs_suite(void)
{
	Suite *s = suite_create("docs");
	TCase *tc = tcase_create("pages");
	TCase *inst = tcase_create("install");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, options_match_help, 0, NPROGS);
	tcase_add_loop_test(tc, page_renders, 0, NPROGS);
	suite_add_tcase(s, tc);
	/* make install builds the plain programs first if they are stale. */
	tcase_set_timeout(inst, 300);
	tcase_add_unchecked_fixture(inst, install_setup, install_teardown);
	tcase_add_test(inst, install_uninstall);
	suite_add_tcase(s, inst);
	return s;
}
