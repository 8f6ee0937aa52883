/* SPDX-License-Identifier: MIT */
/*
 * Freestanding helpers: memory and string functions, a small vsnprintf, the
 * polled COM1 console and CRC-32. Used at both privilege levels; the CPL3
 * callers are the hot ones.
 */
#include "tg.h"

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;

	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a < (u8)*b ? -1 : 1;
		if (!*a)
			break;
	}
	return 0;
}

/* ---- vsnprintf: %c %s %d %i %u %x %X %p, flags 0 - #, width, .prec, l ll z ---- */

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, u64 v, unsigned int base, bool upper, bool neg, int width,
		    bool zero, bool left, const char *prefix)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0, len, plen = prefix ? (int)strlen(prefix) : 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + plen + (neg ? 1 : 0);
	if (!left && !zero)
		for (; width > len; width--)
			put(o, ' ');
	if (neg)
		put(o, '-');
	for (int i = 0; i < plen; i++)
		put(o, prefix[i]);
	if (!left && zero)
		for (; width > len; width--)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
	if (left)
		for (; width > len; width--)
			put(o, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		bool zero = false, left = false, alt = false;
		int width = 0, prec = -1, lng = 0;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		for (fmt++;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				prec = prec * 10 + (*fmt++ - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n = 0;

			if (!s)
				s = "(null)";
			while (s[n] && (prec < 0 || n < prec))
				n++;
			if (!left)
				for (; width > n; width--)
					put(&o, ' ');
			for (int i = 0; i < n; i++)
				put(&o, s[i]);
			for (; width > n; width--)
				put(&o, ' ');
			break;
		}
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);

			put_num(&o, v < 0 ? -(u64)v : (u64)v, 10, false, v < 0, width, zero, left,
				NULL);
			break;
		}
		case 'u':
			put_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned int), 10, false,
				false, width, zero, left, NULL);
			break;
		case 'x':
		case 'X':
			put_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned int), 16,
				*fmt == 'X', false, width, zero, left, alt ? "0x" : NULL);
			break;
		case 'p':
			put_num(&o, (u64)va_arg(ap, void *), 16, false, false, width, zero, left,
				"0x");
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			if (*fmt)
				put(&o, *fmt);
			else
				fmt--;
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- COM1, polled ---- */

/* Bytes THR takes after LSR.THRE: 16 with the FIFOs on, else 1 (16450 mode). */
static unsigned int uart_tx_burst = 1;

void uart_init(void)
{
	/* 8N1. The divisor is left alone: no VMM times the line, and each access costs. */
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x03);
	/*
	 * Turn the FIFOs on, so that one LSR.THRE poll covers 16 bytes. That
	 * flushes the receiver, and the host may have sent input already (a
	 * pipe or a file on stdin): do it in loopback, where the receiver is
	 * off the line (VMMs hold host input back meanwhile), and keep what
	 * had arrived before in the receive ring.
	 */
	outb(COM1 + UART_MCR, 0x1b); /* DTR, RTS, OUT2, loopback */
	if ((inb(COM1 + UART_IIR) & 0xc0) != 0xc0) {
		for (int n = 0; n < 64 && (inb(COM1 + UART_LSR) & UART_LSR_DR); n++) {
			u8 c = inb(COM1 + UART_RBR);

			if (rx_ring.head - rx_ring.tail < RX_RING_SIZE) {
				rx_buf[rx_ring.head & (RX_RING_SIZE - 1)] = c;
				rx_ring.head++;
			}
		}
		outb(COM1 + UART_FCR, 0x01); /* FIFOs on, receive trigger at 1 byte */
	}
	if ((inb(COM1 + UART_IIR) & 0xc0) == 0xc0)
		uart_tx_burst = 16;
	/* OUT2 gates the interrupt line on PC UARTs. */
	outb(COM1 + UART_MCR, 0x0b);
}

static void uart_wait_thre(void)
{
	/* Bounded: a UART that never reports THRE must not hang the guest. */
	for (int i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			return;
}

/*
 * Wait for THRE, then hand THR as many bytes as it takes. On hosts whose
 * KVM emulates the guest kernel, every port access from CPL3 costs ~30 us
 * (a #GP, the emulator, an exit to the VMM), and each byte of a `rep
 * outsb` is still its own exit; what the FIFO saves is the LSR poll before
 * each byte, half of the exits. Console output is most of the guest's
 * boot time there (~1.4 ms for the banner line).
 */
void uart_write(const char *s, size_t n)
{
	while (n) {
		size_t chunk = n < uart_tx_burst ? n : uart_tx_burst;

		uart_wait_thre();
		__asm__ volatile("rep outsb"
				 : "+S"(s), "+c"(chunk)
				 : "d"((u16)(COM1 + UART_THR))
				 : "memory");
		n -= n < uart_tx_burst ? n : uart_tx_burst;
	}
}

void uart_putc(char c)
{
	uart_write(&c, 1);
}

void uart_puts(const char *s)
{
	uart_write(s, strlen(s));
}

void print(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	uart_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib's crc32()), slicing by 8 ---- */

static u32 crc_tab[8][256] __attribute__((section(".noinit")));

void crc32_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (u32 i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] =
				(crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

u32 crc32(u32 crc, const void *p, size_t n)
{
	const u8 *b = p;

	crc = ~crc;
	while (n && ((u64)b & 7)) {
		crc = crc_tab[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
		n--;
	}
	for (; n >= 8; n -= 8, b += 8) {
		u64 v = *(const u64 *)b;
		u32 lo = (u32)v ^ crc, hi = (u32)(v >> 32);

		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^
		      crc_tab[2][(hi >> 8) & 0xff] ^ crc_tab[1][(hi >> 16) & 0xff] ^
		      crc_tab[0][hi >> 24];
	}
	while (n--)
		crc = crc_tab[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
