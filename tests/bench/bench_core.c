/* bench_core.c - reading and rewriting a ResNet18 record (224x224, 1000
 * classes: 11.7 M parameters, about 47 MB) through a pipe, as every tool in
 * the middle of a pipeline does: a child process writes the stream into a
 * pipe, we read it record by record, validate it and write it to
 * /dev/null. Issue figure: under 0.2 s. Also decode and encode alone. */
#include "core/nash.h"
#include "models/models.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what, nash_err *e)
{
	fprintf(stderr, "bench_core: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

static double pipe_rewrite(const unsigned char *buf, size_t n, int devnull)
{
	int fd[2];
	if (pipe(fd) < 0)
		die("pipe", NULL);
	double t0 = nash_now();
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		nash_pipe_widen(fd[1]);
		nash_err e;
		_exit(nash_write_all(fd[1], buf, n, &e) < 0);
	}
	close(fd[1]);
	nash_err e;
	nash_reader *r = nash_reader_new(fd[0], "pipe");
	nash_record *rec;
	int st;
	while ((st = nash_read(r, &rec, &e)) > 0) {
		if (rec->kind == NASH_REC_GRAPH && nash_graph_validate(rec->graph, &e) < 0)
			die("validate", &e);
		if (nash_write_record(devnull, rec, &e) < 0)
			die("write", &e);
		nash_record_free(rec);
	}
	if (st < 0)
		die("read", &e);
	nash_reader_free(r);
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return nash_now() - t0;
}

int main(void)
{
	nash_err e;
	nash_model_opts o = { .arch = "resnet18", .in_c = 3, .in_h = 224, .in_w = 224, .classes = 1000 };
	nash_graph *g = nash_model_build(&o, &e);
	if (!g)
		die("build", &e);
	unsigned char *buf;
	size_t n;
	double t0 = nash_now();
	if (nash_encode_graph(g, &buf, &n, &e) < 0)
		die("encode", &e);
	double enc = nash_now() - t0;
	t0 = nash_now();
	nash_record *rec;
	if (nash_decode(buf, n, &rec, &e) < 0)
		die("decode", &e);
	double dec = nash_now() - t0;
	nash_record_free(rec);
	int devnull = open("/dev/null", O_WRONLY);
	double best = 1e9;
	for (int i = 0; i < 5; i++) {
		double t = pipe_rewrite(buf, n, devnull);
		if (t < best)
			best = t;
	}
	printf("core: ResNet18 record (%.1f MB, 11,689,512 parameters) read, validated and rewritten through a pipe "
	       "in %.3f s (best of 5; %.0f MB/s); decode alone %.3f s, encode alone %.3f s\n",
	       n / 1e6, best, n / 1e6 / best, dec, enc);
	free(buf);
	nash_graph_free(g);
	return 0;
}
