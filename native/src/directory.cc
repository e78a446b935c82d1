// listDirectory(path): one directory's entries with their lstat, in one call. Walking a build
// context costs one readdir and one lstat per entry; through node's fs each lstat is a JS call
// that resolves the whole path again and builds a Stats object. Here the directory is opened
// once and each entry is stat'ed relative to it (fstatat, AT_SYMLINK_NOFOLLOW): no path walk,
// no object per entry. Mechanism only: which entries count, which directories to descend into
// and in what order is the caller's business (engine/host/directoryListing.ts).
#include "directory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace kiln {

namespace {

// Numbers per entry, in this order (directoryListing.ts reads them by the same positions).
enum Field { kMode, kUid, kGid, kSize, kIno, kDev, kNlink, kRdev, kMtimeMs, kCtimeMs, kFields };

// Milliseconds as node computes Stats.mtimeMs from a timespec: the same two double operations,
// so the stat cache (which compares them) sees exactly node's values.
double Ms(const struct timespec& t) {
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void ThrowSystemError(Napi::Env env, const char* syscall, const std::string& path, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " '" + path + "': " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("path", Napi::String::New(env, path));
  e.ThrowAsJavaScriptException();
}

// listDirectory(path) -> { names: string, stats: Float64Array }: the names joined by "\0" (in
// the order the directory gives them; "." and ".." left out), and kFields numbers per name.
// An entry gone between the listing and its lstat is left out (it is not there any more);
// a directory that cannot be opened or read throws, with errno, syscall and path.
Napi::Value ListDirectory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "listDirectory(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ThrowSystemError(env, "scandir", path, errno);
    return env.Undefined();
  }
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    close(fd);
    ThrowSystemError(env, "scandir", path, err);
    return env.Undefined();
  }
  std::string names;
  std::vector<double> numbers;
  size_t count = 0;
  for (;;) {
    errno = 0;
    struct dirent* d = readdir(dir);
    if (d == nullptr) {
      if (errno != 0) {
        int err = errno;
        closedir(dir);
        ThrowSystemError(env, "scandir", path, err);
        return env.Undefined();
      }
      break;
    }
    const char* name = d->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;  // removed since it was listed
      int err = errno;
      closedir(dir);
      ThrowSystemError(env, "lstat", path + "/" + name, err);
      return env.Undefined();
    }
    if (count > 0) names.push_back('\0');
    names.append(name);
    count++;
    double n[kFields];
    n[kMode] = st.st_mode;
    n[kUid] = st.st_uid;
    n[kGid] = st.st_gid;
    n[kSize] = (double)st.st_size;
    n[kIno] = (double)st.st_ino;
    n[kDev] = (double)st.st_dev;
    n[kNlink] = (double)st.st_nlink;
    n[kRdev] = (double)st.st_rdev;
    n[kMtimeMs] = Ms(st.st_mtim);
    n[kCtimeMs] = Ms(st.st_ctim);
    numbers.insert(numbers.end(), n, n + kFields);
  }
  closedir(dir);
  Napi::Float64Array stats = Napi::Float64Array::New(env, numbers.size());
  if (!numbers.empty()) memcpy(stats.Data(), numbers.data(), numbers.size() * sizeof(double));
  Napi::Object out = Napi::Object::New(env);
  out.Set("names", Napi::String::New(env, names.data(), names.size()));
  out.Set("count", Napi::Number::New(env, (double)count));
  out.Set("stats", stats);
  return out;
}

}  // namespace

void RegisterDirectoryFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("listDirectory", Napi::Function::New(env, ListDirectory));
}

}  // namespace kiln
