/* make bench's ceiling: the least a libfcgi responder can do per request, with kasparro-api's
 * structure (a pool of threads, each polling the non-blocking listening socket, accepting with
 * FCGX_Accept_r and keeping nginx's connection) but no work: it answers every request with the
 * bytes of one file and kasparro-api's headers. Built by scripts/bench.py; never shipped.
 * Usage: fcgi_ceiling SOCKET BODY_FILE THREADS */
#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

static int listen_fd;
static char *body;
static long body_len;

static void *work(void *unused) {
    (void)unused;
    FCGX_Request request;
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
    struct pollfd fds = {.fd = listen_fd, .events = POLLIN};
    for (;;) {
        if (request.ipcFd < 0) {                    /* no kept connection: wait for a new one */
            fds.revents = 0;
            if (poll(&fds, 1, -1) <= 0) continue;
        }
        if (FCGX_Accept_r(&request) < 0) continue;  /* EAGAIN: another thread took it */
        const char *id = FCGX_GetParam("REQUEST_ID", request.envp);
        FCGX_FPrintF(request.out, "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n"
                     "Cache-Control: no-store\r\nX-Request-ID: %s\r\n\r\n", body_len, id ? id : "-");
        FCGX_PutStr(body, (int)body_len, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: fcgi_ceiling SOCKET BODY_FILE THREADS\n"); return 2; }
    FILE *file = fopen(argv[2], "rb");
    if (!file) { perror(argv[2]); return 1; }
    fseek(file, 0, SEEK_END);
    body_len = ftell(file);
    rewind(file);
    body = malloc(body_len);
    if (fread(body, 1, body_len, file) != (size_t)body_len) { perror("read"); return 1; }
    fclose(file);
    FCGX_Init();
    unlink(argv[1]);
    listen_fd = FCGX_OpenSocket(argv[1], 1024);  /* as kasparro-api binds --socket */
    if (listen_fd < 0) { perror(argv[1]); return 1; }
    chmod(argv[1], 0666);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    int threads = atoi(argv[3]);
    for (int i = 1; i < threads; i++) {
        pthread_t thread;
        pthread_create(&thread, NULL, work, NULL);
    }
    work(NULL);
    return 0;
}
