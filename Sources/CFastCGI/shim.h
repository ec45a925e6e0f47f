// Bridge to libfcgi (Debian: libfcgi-dev). Only the re-entrant FCGX_* API is used.
#include <fcgiapp.h>
