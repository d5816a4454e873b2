/* Resolve each argument with net_resolve and print one line per name:
 * "name: addr addr ..." or "name: error: message". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/net_internal.h"

int main(int argc, char **argv)
{
    int timeout = getenv("DNS_TIMEOUT_MS") ? atoi(getenv("DNS_TIMEOUT_MS")) : 2000;
    for (int i = 1; i < argc; i++) {
        net_addr a[8];
        size_t n;
        char err[256], txt[64];
        printf("%s:", argv[i]);
        if (net_resolve(argv[i], 443, a, 8, &n, timeout, err, sizeof err)) {
            printf(" error: %s\n", err);
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            const void *ip = a[k].ss.ss_family == AF_INET
                                 ? (const void *)&((struct sockaddr_in *)&a[k].ss)->sin_addr
                                 : (const void *)&((struct sockaddr_in6 *)&a[k].ss)->sin6_addr;
            printf(" %s", inet_ntop(a[k].ss.ss_family, ip, txt, sizeof txt));
        }
        printf("\n");
    }
    return 0;
}
