//go:build linux && cgo

package namespaces

// The trials' grandchild ops (noop, mount, mounts) also run in C, from a
// constructor that glibc calls before the Go runtime starts: a trial is a
// clone with the flags under test and an exec of this binary, and in the
// exec'd process the Go runtime's start (threads, heap arenas, package
// init) cost more than the mount itself: ~2.5 ms of CPU per trial on the
// development host, 40-50 ms in gVisor, for 8 trials a scan. The clone, its
// uid map and the reading of the reply stay in Go (SpawnOp); only the op's
// body moves, and it does what mountOp, mountsOp and noop do, line for
// line, and prints the same line. Arguments they would refuse are left to
// the Go ops. KPROBE_OP_IN_GO=1 in the environment leaves every op to Go,
// so that TestCOpsAgree can run both and compare.

/*
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>

// kp_errno_name is probes.Errno for an errno: the names of probes'
// errnoNames, "errno N" for the others (TestCErrnoNames compares them).
static void kp_errno_name(int e, char *buf, size_t n) {
	const char *s = NULL;
	switch (e) {
	case EPERM: s = "EPERM"; break;
	case ENOENT: s = "ENOENT"; break;
	case ESRCH: s = "ESRCH"; break;
	case EINTR: s = "EINTR"; break;
	case EIO: s = "EIO"; break;
	case ENXIO: s = "ENXIO"; break;
	case E2BIG: s = "E2BIG"; break;
	case ENOEXEC: s = "ENOEXEC"; break;
	case EBADF: s = "EBADF"; break;
	case EAGAIN: s = "EAGAIN"; break;
	case ENOMEM: s = "ENOMEM"; break;
	case EACCES: s = "EACCES"; break;
	case EFAULT: s = "EFAULT"; break;
	case EBUSY: s = "EBUSY"; break;
	case EEXIST: s = "EEXIST"; break;
	case EXDEV: s = "EXDEV"; break;
	case ENODEV: s = "ENODEV"; break;
	case ENOTDIR: s = "ENOTDIR"; break;
	case EISDIR: s = "EISDIR"; break;
	case EINVAL: s = "EINVAL"; break;
	case ENFILE: s = "ENFILE"; break;
	case EMFILE: s = "EMFILE"; break;
	case ENOTTY: s = "ENOTTY"; break;
	case ENOSPC: s = "ENOSPC"; break;
	case EROFS: s = "EROFS"; break;
	case EMLINK: s = "EMLINK"; break;
	case EPIPE: s = "EPIPE"; break;
	case ENOSYS: s = "ENOSYS"; break;
	case EOPNOTSUPP: s = "EOPNOTSUPP"; break;
	case EPROTONOSUPPORT: s = "EPROTONOSUPPORT"; break;
	case EAFNOSUPPORT: s = "EAFNOSUPPORT"; break;
	case EADDRINUSE: s = "EADDRINUSE"; break;
	case EADDRNOTAVAIL: s = "EADDRNOTAVAIL"; break;
	case ENETDOWN: s = "ENETDOWN"; break;
	case ECONNREFUSED: s = "ECONNREFUSED"; break;
	case ETIMEDOUT: s = "ETIMEDOUT"; break;
	case ELOOP: s = "ELOOP"; break;
	case ENAMETOOLONG: s = "ENAMETOOLONG"; break;
	case EUSERS: s = "EUSERS"; break;
	case EOVERFLOW: s = "EOVERFLOW"; break;
	case ENOPROTOOPT: s = "ENOPROTOOPT"; break;
	}
	if (s != NULL) {
		snprintf(buf, n, "%s", s);
	} else {
		snprintf(buf, n, "errno %d", e);
	}
}

// kp_mount_one is mountOp: mount fstype on target and unmount it again,
// the outcome appended to line.
static void kp_mount_one(const char *fstype, const char *target, char *line, size_t n) {
	char name[32];
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	const char *data = NULL;
	size_t len = strlen(line);

	mount("", "/", "", MS_REC | MS_PRIVATE, NULL);
	if (strcmp(fstype, "sysfs") == 0) {
		flags |= MS_RDONLY;
	} else if (strcmp(fstype, "tmpfs") == 0) {
		data = "size=64k,mode=0700";
	}
	if (mount(fstype, target, fstype, flags, data) != 0) {
		kp_errno_name(errno, name, sizeof name);
		snprintf(line + len, n - len, "fail %s", name);
		return;
	}
	if (umount2(target, 0) != 0) {
		kp_errno_name(errno, name, sizeof name);
		umount2(target, MNT_DETACH);
		snprintf(line + len, n - len, "ok umount %s", name);
		return;
	}
	snprintf(line + len, n - len, "ok");
}

static void kp_reply(const char *line) {
	size_t len = strlen(line), off = 0;
	while (off < len) {
		ssize_t w = write(1, line + off, len - off);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			_exit(1);
		}
		off += (size_t)w;
	}
	_exit(0);
}

__attribute__((constructor)) static void kp_namespaces_cop(int argc, char **argv, char **envp) {
	char line[4096] = "";
	int i;

	if (argc < 2 || argv == NULL || strcmp(argv[0], "kprobe-op") != 0) {
		return;
	}
	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strcmp(envp[i], "KPROBE_OP_IN_GO=1") == 0) {
			return;
		}
	}
	if (strcmp(argv[1], "namespaces.noop") == 0) {
		kp_reply("ok\n");
	}
	if (strcmp(argv[1], "namespaces.mount") == 0 && argc == 4) {
		kp_mount_one(argv[2], argv[3], line, sizeof line - 1);
		strcat(line, "\n");
		kp_reply(line);
	}
	if (strcmp(argv[1], "namespaces.mounts") == 0 && argc > 2 && argc % 2 == 0 && argc <= 2 + 2 * 64) {
		for (i = 2; i < argc; i += 2) {
			if (i > 2) {
				strcat(line, "|");
			}
			kp_mount_one(argv[i], argv[i + 1], line, sizeof line - 1);
		}
		strcat(line, "\n");
		kp_reply(line);
	}
}

// kp_errno_name_go is kp_errno_name for TestCErrnoNames.
static void kp_errno_name_go(int e, char *buf, size_t n) { kp_errno_name(e, buf, n); }
*/
import "C"

import "unsafe"

// cErrnoName is the C ops' name for errno e, for TestCErrnoNames.
func cErrnoName(e int) string {
	var buf [32]C.char
	C.kp_errno_name_go(C.int(e), &buf[0], C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}
