/* main.c - command-line flags, as PgBouncer takes them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "main/process.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"%s is a connection pooler for PostgreSQL, a drop-in for PgBouncer.\n\n"
		"Usage:\n"
		"  %s [OPTION]... CONFIG_FILE\n\n"
		"Options:\n"
		"  -d, --daemon         run in the background (needs logfile or syslog, and pidfile)\n"
		"  -q, --quiet          run quietly (nothing on stderr)\n"
		"  -u, --user=USERNAME  run as USERNAME (needed when started as root)\n"
		"  -v, --verbose        more logging (repeat for even more)\n"
		"  -V, --version        show the version and library versions, then exit\n"
		"  -h, --help           show this help, then exit\n",
		prog, prog);
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "daemon", no_argument, NULL, 'd' },	 { "quiet", no_argument, NULL, 'q' },
		{ "user", required_argument, NULL, 'u' }, { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },	 { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pf_args args;
	memset(&args, 0, sizeof(args));
	int c;
	while ((c = getopt_long(argc, argv, "dqu:vVh", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			args.daemon = true;
			break;
		case 'q':
			args.quiet = true;
			break;
		case 'u':
			args.user = optarg;
			break;
		case 'v':
			args.verbose++;
			break;
		case 'V':
			pf_print_version();
			return 0;
		case 'h':
			usage(stdout, "pgfjord");
			return 0;
		default:
			usage(stderr, "pgfjord");
			return 1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "pgfjord: %s\n", optind >= argc ? "need a config file" : "too many arguments");
		usage(stderr, "pgfjord");
		return 1;
	}
	args.config_path = argv[optind];
	return pf_process_run(&args);
}
