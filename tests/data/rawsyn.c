/* Sends TCP SYN frames built by hand on an AF_PACKET socket (CAP_NET_RAW is in Docker's
 * default set), for the network-policy escape test: rawsyn IFACE DST_IP DST_PORT. The
 * frames go straight to the user-mode network's gateway MAC on IFACE (slirp4netns's tap0
 * or a guest's eth0), past the step's routes and any
 * netfilter rule in its namespace. Prints "sent" once three frames are out. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The Internet checksum of `len` bytes, as a host-order value of the big-endian sum. */
static unsigned short csum(const unsigned char *p, size_t len) {
    unsigned long sum = 0;
    for (; len > 1; p += 2, len -= 2)
        sum += (unsigned long)((p[0] << 8) | p[1]);
    if (len)
        sum += (unsigned long)(p[0] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (unsigned short)~sum;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: rawsyn IFACE DST_IP DST_PORT\n");
        return 2;
    }
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (s < 0) {
        perror("socket(AF_PACKET)");
        return 1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
        perror("SIOCGIFINDEX");
        return 1;
    }
    int ifindex = ifr.ifr_ifindex;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        perror("SIOCGIFHWADDR");
        return 1;
    }
    /* slirp's gateway 10.0.2.2 answers as 52:55:0a:00:02:02. */
    static const unsigned char gw[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    unsigned char frame[14 + 20 + 20];
    memset(frame, 0, sizeof frame);
    memcpy(frame, gw, 6);
    memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    struct iphdr *ip = (struct iphdr *)(frame + 14);
    ip->version = 4;
    ip->ihl = 5;
    ip->tot_len = htons(40);
    ip->id = htons(4242);
    ip->ttl = 64;
    ip->protocol = IPPROTO_TCP;
    /* The interface's own address (the request still names it; its hardware address is
     * copied above): 10.0.2.100 under slirp4netns, 10.0.2.15 in a guest. */
    if (ioctl(s, SIOCGIFADDR, &ifr) < 0) {
        perror("SIOCGIFADDR");
        return 1;
    }
    ip->saddr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
    if (inet_pton(AF_INET, argv[2], &ip->daddr) != 1) {
        fprintf(stderr, "not an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    ip->check = htons(csum((unsigned char *)ip, 20));
    struct tcphdr *tcp = (struct tcphdr *)(frame + 34);
    tcp->source = htons((unsigned short)(40000 + getpid() % 20000));
    tcp->dest = htons((unsigned short)atoi(argv[3]));
    tcp->seq = htonl(12345);
    tcp->doff = 5;
    tcp->syn = 1;
    tcp->window = htons(65535);
    unsigned char pseudo[12 + 20];
    memcpy(pseudo, &ip->saddr, 4);
    memcpy(pseudo + 4, &ip->daddr, 4);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_TCP;
    pseudo[10] = 0;
    pseudo[11] = 20;
    memcpy(pseudo + 12, tcp, 20);
    tcp->check = htons(csum(pseudo, sizeof pseudo));
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    memcpy(to.sll_addr, gw, 6);
    for (int i = 0; i < 3; i++) {
        if (sendto(s, frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) < 0) {
            perror("sendto");
            return 1;
        }
        usleep(300000);
    }
    printf("sent\n");
    return 0;
}
