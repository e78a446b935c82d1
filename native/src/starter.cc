// kiln-start: the first program of a container's PID 1. The addon clones the child sharing
// kiln's memory (CLONE_VM | CLONE_VFORK) and execs this small static program at once, instead
// of letting it set the container up in a copy of the whole Node process: copying Node's page
// tables, the copy-on-write faults on both sides and tearing the copy down at the command's exec
// cost several milliseconds of CPU per start. Here it reads its spec (childSpecCodec.h) from the
// memory file the addon wrote and goes on exactly as the cloned child does (child.cc).
//
//   kiln-start SPEC_FD ERROR_FD
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "childSpec.h"
#include "childSpecCodec.h"

namespace {

// The error pipe's report ("ERRNO<TAB>EXIT<TAB>message"), before the spec that names it is read.
[[noreturn]] void giveUp(int errorFd, int err, const char* what) {
  std::string report = std::to_string(err) + "\t125\t" + what;
  if (errorFd >= 0) {
    ssize_t w = write(errorFd, report.data(), report.size());
    (void)w;
  }
  _exit(125);
}

bool readAll(int fd, std::string& out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return false;
  out.resize((size_t)st.st_size);
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = pread(fd, &out[got], out.size() - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += (size_t)n;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) giveUp(-1, EINVAL, "kiln-start is started by kiln with a spec");
  int specFd = atoi(argv[1]);
  int errorFd = atoi(argv[2]);
  std::string bytes;
  if (!readAll(specFd, bytes)) giveUp(errorFd, errno, "read the container's start spec");
  close(specFd);
  static kiln::ChildSpec spec;
  if (!kiln::decodeChildSpec(bytes.data(), bytes.size(), spec)) giveUp(errorFd, 0, "read the container's start spec: it is not this kiln's");
  // The parent's end of the gate closed at this exec (close-on-exec): nothing to close here.
  spec.gateWriteFd = -1;
  return kiln::childMain(&spec);
}
