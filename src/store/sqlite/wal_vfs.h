// Internal to the SQLite store: a VFS that writes each transaction's write-ahead log frames in a
// few large writes instead of two small ones per page.
//
// SQLite appends a frame to the log as two writes, a 24-byte header and the page, so a group
// commit of a few hundred operations made several hundred write() calls on the writer thread.
// This VFS wraps the process's default VFS (whatever it is when a file is opened) and, for
// log files only, gathers contiguous writes in memory and passes them on in chunks below
// kLogChunkBytes. Everything reaches the file before anything can depend on it: the write that
// ends a transaction's commit frame passes the gathered bytes on (so a failed write fails that
// commit), and so does any other use of the log (read, size, sync, truncate, file control,
// close) or of its database's shared-memory index (where a commit is published to readers).
// Database files and everything else pass through unchanged.
#pragma once

namespace warden::store::sqlite {

// Writes are passed on in pieces of at most this many bytes (SQLite's unix VFS writes at most
// 128 KiB - 1 per call).
inline constexpr int kLogChunkBytes = 64 * 1024;

// The name of the gathering VFS, registered (not as the default) on first use.
const char* gathering_vfs_name();

}  // namespace warden::store::sqlite
