/*
 * process.h - the process: start-up, daemon, pidfile, user switch, signals, shutdown.
 */
#ifndef PF_MAIN_PROCESS_H
#define PF_MAIN_PROCESS_H

#include <stdbool.h>

struct pf_args {
	bool daemon;
	bool quiet;
	int verbose;
	const char *user;
	const char *config_path;
};

/* Run pgfjord until it shuts down; returns the exit code. */
int pf_process_run(const struct pf_args *args);
/* "pgfjord X.Y.Z" and the library versions, as -V prints them. */
void pf_print_version(void);

#endif
