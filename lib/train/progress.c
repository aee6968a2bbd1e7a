/* progress.c - the text of the training progress bar. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void nash_progress_init(nash_progress *p, int bar, int epochs, int64_t steps, int64_t left)
{
	memset(p, 0, sizeof *p);
	p->bar = bar;
	p->epochs = epochs;
	p->steps = steps;
	p->todo = left;
	p->t0 = p->tepoch = nash_now();
}

void nash_progress_epoch_start(nash_progress *p)
{
	p->tepoch = nash_now();
	p->images = 0;
}

char *nash_fmt_duration(double s, char *buf)
{
	if (!isfinite(s) || s < 0)
		s = 0;
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, 16, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, 16, "%ld:%02ld", t / 60, t % 60);
	return buf;
}

double nash_progress_rate(const nash_progress *p)
{
	double dt = nash_now() - p->tepoch;
	return dt > 0 ? (double)p->images / dt : 0;
}

int nash_progress_step(nash_progress *p, int epoch, int64_t step, int n, double loss, double acc, char *buf,
                       size_t len)
{
	p->done++;
	p->images += n;
	double now = nash_now();
	if (now - p->tlast < 0.2 && step + 1 < p->steps)
		return 0;
	p->tlast = now;
	char eta[16];
	double per = (now - p->t0) / (double)p->done;
	nash_fmt_duration(per * (double)(p->todo - p->done), eta);
	char bar[21];
	int fill = p->steps > 0 ? (int)(20 * (step + 1) / p->steps) : 20;
	for (int i = 0; i < 20; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[20] = 0;
	snprintf(buf, len, "epoch %d/%d [%s] %lld/%lld loss %.4f acc %.1f%% %.0f img/s ETA %s", epoch, p->epochs, bar,
	         (long long)(step + 1), (long long)p->steps, loss, acc, nash_progress_rate(p), eta);
	return 1;
}
