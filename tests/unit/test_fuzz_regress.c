/* test_fuzz_regress.c - every input the fuzzer ever crashed on (kept in
 * tests/fuzz/regress/) and the seed corpus, run through the fuzz target. */
#include "unit.h"

#include <dirent.h>
#include <string.h>

#include "../fuzz/fuzz_record.c"

static void run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL, "open %s", dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		unsigned char *buf = malloc(1 << 20);
		size_t n = fread(buf, 1, 1 << 20, f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		CHECK(1, "%s runs clean", path);
	}
	closedir(d);
}

int main(void)
{
	run_dir("tests/fuzz/regress");
	run_dir("tests/fuzz/corpus");
	UNIT_DONE();
}
