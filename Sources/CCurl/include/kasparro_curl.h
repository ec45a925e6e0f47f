// Typed shims over libcurl's variadic calls, which Swift cannot call directly.
#ifndef KASPARRO_CURL_H
#define KASPARRO_CURL_H

#include <curl/curl.h>

/// Sets a `long` option (`curl_easy_setopt` is variadic; Swift needs one typed entry per argument type).
CURLcode kasparro_curl_setopt_long(CURL *_Nonnull handle, CURLoption option, long value);
/// Sets a string option; libcurl copies the string.
CURLcode kasparro_curl_setopt_string(CURL *_Nonnull handle, CURLoption option, const char *_Nullable value);
/// Sets a pointer option (header lists, callback user data).
CURLcode kasparro_curl_setopt_pointer(CURL *_Nonnull handle, CURLoption option, void *_Nullable value);
/// Sets the body-write callback.
CURLcode kasparro_curl_setopt_write_function(CURL *_Nonnull handle,
    size_t (*_Nonnull callback)(char *_Nonnull, size_t, size_t, void *_Nullable));
/// Sets the header callback.
CURLcode kasparro_curl_setopt_header_function(CURL *_Nonnull handle,
    size_t (*_Nonnull callback)(char *_Nonnull, size_t, size_t, void *_Nullable));
/// Sets the transfer-progress callback (bytes received on the wire so far); non-zero aborts.
CURLcode kasparro_curl_setopt_xferinfo_function(CURL *_Nonnull handle,
    int (*_Nonnull callback)(void *_Nullable, curl_off_t, curl_off_t, curl_off_t, curl_off_t));
/// Reads a `long` info value (status code).
CURLcode kasparro_curl_getinfo_long(CURL *_Nonnull handle, CURLINFO info, long *_Nonnull value);

#endif
