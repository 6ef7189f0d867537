/* credserve.h: token-broker-credential serve, a local imitation of the GCE metadata server. */
#ifndef TB_CREDSERVE_H
#define TB_CREDSERVE_H

/*
 * Runs "token-broker-credential serve" with its arguments (argv[0] is "serve"): serves the
 * metadata server's service-account paths from tokens that the broker issues, until SIGTERM,
 * SIGINT or SIGHUP. Logs to standard error. The exit status: 0 after a signal, 1 when the
 * settings or the key are bad or the address cannot be bound, 0 for --help and --version.
 */
int tb_credserve_main(int argc, char **argv);

#endif
