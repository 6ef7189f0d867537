/*
 * test_listen.c: --listen addresses (unix paths, hosts and ports by valid.c's rules, loopback
 * unless --listen-any), --socket-mode and --socket-owner values.
 */
#include <string.h>
#include <sys/types.h>

#include "err.h"
#include "listen.h"
#include "tap.h"

/* Each address: accepted without --listen-any? with it? and the host and port it gives. */
static const struct {
	const char *s;
	int plain, any;
	const char *host, *port;
} addrs[] = {
    {"127.0.0.1:9000", 1, 1, "127.0.0.1", "9000"},
    {"127.9.8.7:1", 1, 1, "127.9.8.7", "1"},
    {"localhost:65535", 1, 1, "localhost", "65535"},
    {"[::1]:9000", 1, 1, "::1", "9000"},
    {"0.0.0.0:9000", 0, 1, "0.0.0.0", "9000"},
    {"[::]:9000", 0, 1, "::", "9000"},
    {"192.0.2.1:9000", 0, 1, "192.0.2.1", "9000"},
    {"broker.example.net:9000", 0, 1, "broker.example.net", "9000"},
    {"127.0.0.1.evil.example:9000", 0, 1, "127.0.0.1.evil.example", "9000"},
    {"127.0.0.1", 0, 0, NULL, NULL},   /* no port */
    {"127.0.0.1:", 0, 0, NULL, NULL},  /* empty port */
    {"127.0.0.1:0", 0, 0, NULL, NULL}, /* port 0 */
    {"127.0.0.1:65536", 0, 0, NULL, NULL},
    {"127.0.0.1:9x", 0, 0, NULL, NULL},
    {"::1:9000", 0, 0, NULL, NULL}, /* IPv6 without brackets */
    {"[::1]", 0, 0, NULL, NULL},
    {":9000", 0, 0, NULL, NULL},
    {"*:9000", 0, 0, NULL, NULL},
    {"", 0, 0, NULL, NULL},
    {"tcp://127.0.0.1:9000", 0, 0, NULL, NULL},
    {"127.0.0.1:9000/x", 0, 0, NULL, NULL},
    {"unix:", 0, 0, NULL, NULL},
    {"unix:relative.sock", 0, 0, NULL, NULL},
};

static void
tcp(void)
{
	char why[TB_LISTEN_WHY_MAX];
	struct tb_listen_addr a;
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		int plain = tb_listen_parse(addrs[i].s, 0, &a, why, sizeof(why)) == 0;
		int any;

		ok(plain == addrs[i].plain, "'%s' %s without --listen-any (%s)", addrs[i].s,
		    addrs[i].plain ? "accepted" : "refused", plain ? "accepted" : why);
		any = tb_listen_parse(addrs[i].s, 1, &a, why, sizeof(why)) == 0;
		ok(any == addrs[i].any, "'%s' %s with --listen-any", addrs[i].s,
		    addrs[i].any ? "accepted" : "refused");
		if (any && addrs[i].any) {
			is_str(a.host, addrs[i].host, "'%s': the host", addrs[i].s);
			is_str(a.port, addrs[i].port, "'%s': the port", addrs[i].s);
			ok(!a.unix_socket && a.loopback == addrs[i].plain, "'%s': loopback is %d",
			    addrs[i].s, addrs[i].plain);
		}
	}
	tb_listen_parse("192.0.2.1:9000", 0, &a, why, sizeof(why));
	ok(strstr(why, "not a loopback address") != NULL && strstr(why, "--listen-any") != NULL,
	    "the refusal says why and what to give: %s", why);
}

static void
unix_paths(void)
{
	char why[TB_LISTEN_WHY_MAX], longest[TB_LISTEN_PATH_MAX + 8];
	struct tb_listen_addr a;

	ok(tb_listen_parse("unix:/run/token-broker/fcgi.sock", 0, &a, why, sizeof(why)) == 0 &&
	        a.unix_socket && strcmp(a.path, "/run/token-broker/fcgi.sock") == 0,
	    "unix:/run/token-broker/fcgi.sock");
	memcpy(longest, "unix:/", 6);
	memset(longest + 6, 'p', TB_LISTEN_PATH_MAX - 1);
	longest[5 + TB_LISTEN_PATH_MAX] = '\0';
	ok(tb_listen_parse(longest, 0, &a, why, sizeof(why)) == 0 &&
	        strlen(a.path) == TB_LISTEN_PATH_MAX,
	    "a path of %d bytes (what sun_path holds)", TB_LISTEN_PATH_MAX);
	longest[5 + TB_LISTEN_PATH_MAX] = 'p';
	longest[6 + TB_LISTEN_PATH_MAX] = '\0';
	ok(tb_listen_parse(longest, 0, &a, why, sizeof(why)) == TB_ERR_INVALID,
	    "one byte longer is refused: %s", why);
	ok(tb_listen_parse("unix:run/x.sock", 0, &a, why, sizeof(why)) == TB_ERR_INVALID &&
	        strstr(why, "absolute") != NULL,
	    "a relative path is refused: %s", why);
}

static void
modes_and_owners(void)
{
	static const struct {
		const char *s;
		int good;
		mode_t mode;
	} modes[] = {{"0660", 1, 0660}, {"660", 1, 0660}, {"0600", 1, 0600}, {"0777", 1, 0777},
	    {"0", 1, 0}, {"1777", 0, 0}, {"0680", 0, 0}, {"", 0, 0}, {"rw-rw----", 0, 0},
	    {"00660", 0, 0}, {"-660", 0, 0}};
	char why[TB_LISTEN_WHY_MAX];
	mode_t m;
	uid_t uid;
	gid_t gid;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int r = tb_listen_parse_mode(modes[i].s, &m);

		ok((r == 0) == modes[i].good && (!modes[i].good || m == modes[i].mode),
		    "--socket-mode '%s' %s", modes[i].s, modes[i].good ? "accepted" : "refused");
	}
	ok(tb_listen_parse_owner("root", &uid, &gid, why, sizeof(why)) == 0 && uid == 0 &&
	        gid == (gid_t)-1,
	    "--socket-owner root: the user alone, the group unchanged");
	ok(tb_listen_parse_owner(":0", &uid, &gid, why, sizeof(why)) == 0 && uid == (uid_t)-1 &&
	        gid == 0,
	    "--socket-owner :0: the group alone");
	ok(tb_listen_parse_owner("0:root", &uid, &gid, why, sizeof(why)) == 0 && uid == 0 &&
	        gid == 0,
	    "--socket-owner 0:root: numbers and names");
	ok(tb_listen_parse_owner("no-such-user-tb", &uid, &gid, why, sizeof(why)) ==
	            TB_ERR_INVALID &&
	        strstr(why, "no user 'no-such-user-tb'") != NULL,
	    "an unknown user is refused: %s", why);
	ok(tb_listen_parse_owner("root:no-such-group-tb", &uid, &gid, why, sizeof(why)) ==
	            TB_ERR_INVALID &&
	        strstr(why, "no group 'no-such-group-tb'") != NULL,
	    "an unknown group is refused: %s", why);
	ok(tb_listen_parse_owner(":", &uid, &gid, why, sizeof(why)) == TB_ERR_INVALID,
	    "':' alone is refused: %s", why);
}

int
main(void)
{
	tcp();
	unix_paths();
	modes_and_owners();
	return done_testing();
}
