// Bridge to libpq (Debian: libpq-dev installs the header under postgresql/).
#include <postgresql/libpq-fe.h>
