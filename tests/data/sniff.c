/* A packet sniffer for the escape tests: opens an AF_PACKET raw socket (CAP_NET_RAW is in
 * Docker's default set) and counts packets carrying MARKER for SECONDS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

int main(int argc, char **argv) {
    const char *marker = argc > 1 ? argv[1] : "KILN-SNIFF-MARKER";
    int seconds = argc > 2 ? atoi(argv[2]) : 3;
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0) {
        perror("socket(AF_PACKET)");
        printf("no-socket\n");
        return 0;
    }
    struct timeval tv = {0, 200000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    time_t end = time(NULL) + seconds;
    static unsigned char buf[65536];
    int seen = 0;
    while (time(NULL) < end) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n > 0 && memmem(buf, (size_t)n, marker, strlen(marker)))
            seen++;
    }
    printf("socket-open marker-seen=%d\n", seen);
    return 0;
}
