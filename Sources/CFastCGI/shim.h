// Bridge to libfcgi (Debian: libfcgi-dev). Only the re-entrant FCGX_* API is used.
#include <fcgiapp.h>
// glibc's malloc_trim, for the responder's memory trim (Sources/FastCGI/MemoryTrim.swift).
#include <malloc.h>
