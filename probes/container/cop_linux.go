//go:build linux && cgo

package container

// The container's process, the op container.hello, also runs in C, from
// a constructor that glibc calls before the Go runtime starts: it only
// checks that it is pid 1 and prints ok, and a Go runtime's start costs
// more than that (~2.5 ms of CPU on the development host, tens of ms in
// gVisor) in each of the three containers. When it is not pid 1 the Go op
// runs and says why it fails. KPROBE_OP_IN_GO=1 in the environment leaves
// it to Go, so that TestCHello can run both (a container gets only
// PATH=/, so this never reaches one).

/*
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void kp_container_cop(int argc, char **argv, char **envp) {
	int i;

	if (argc != 2 || argv == NULL || strcmp(argv[0], "kprobe-op") != 0 ||
	    strcmp(argv[1], "container.hello") != 0 || getpid() != 1) {
		return;
	}
	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strcmp(envp[i], "KPROBE_OP_IN_GO=1") == 0) {
			return;
		}
	}
	_exit(write(1, "ok\n", 3) == 3 ? 0 : 1);
}
*/
import "C"
