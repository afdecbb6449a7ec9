/*
 * Unit tests: socket address and migration URI parsing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "qemu/uri.h"

static void test_socket_parse_good(void)
{
    static const struct {
        const char *in;
        SocketAddressType type;
        const char *a, *b;      /* host/port, path, cid/port, fd name */
        const char *canonical;
    } cases[] = {
        { "tcp:localhost:4444", SOCKET_ADDRESS_TYPE_INET, "localhost", "4444",
          "tcp:localhost:4444" },
        { "127.0.0.1:0", SOCKET_ADDRESS_TYPE_INET, "127.0.0.1", "0",
          "tcp:127.0.0.1:0" },
        { "tcp:[::1]:65535", SOCKET_ADDRESS_TYPE_INET, "::1", "65535",
          "tcp:[::1]:65535" },
        { "tcp::4444", SOCKET_ADDRESS_TYPE_INET, "", "4444", "tcp::4444" },
        { "tcp:host:0080", SOCKET_ADDRESS_TYPE_INET, "host", "80",
          "tcp:host:80" },
        { "tcp:0.0.0.0:1,ipv4=on", SOCKET_ADDRESS_TYPE_INET, "0.0.0.0", "1",
          "tcp:0.0.0.0:1,ipv4=on" },
        { "unix:/tmp/a b", SOCKET_ADDRESS_TYPE_UNIX, "/tmp/a b", NULL,
          "unix:/tmp/a b" },
        { "vsock:3:1234", SOCKET_ADDRESS_TYPE_VSOCK, "3", "1234",
          "vsock:3:1234" },
        { "fd:migfd", SOCKET_ADDRESS_TYPE_FD, "migfd", NULL, "fd:migfd" },
        { "fd:7", SOCKET_ADDRESS_TYPE_FD, "7", NULL, "fd:7" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(SocketAddress) addr = socket_parse(cases[i].in,
                                                     &error_abort);
        g_autoptr(SocketAddress) copy = socket_address_copy(addr);
        g_autofree char *str = socket_address_to_string(copy);

        g_assert_cmpint(addr->type, ==, cases[i].type);
        switch (addr->type) {
        case SOCKET_ADDRESS_TYPE_INET:
            g_assert_cmpstr(addr->u.inet.host, ==, cases[i].a);
            g_assert_cmpstr(addr->u.inet.port, ==, cases[i].b);
            break;
        case SOCKET_ADDRESS_TYPE_UNIX:
            g_assert_cmpstr(addr->u.q_unix.path, ==, cases[i].a);
            break;
        case SOCKET_ADDRESS_TYPE_VSOCK:
            g_assert_cmpstr(addr->u.vsock.cid, ==, cases[i].a);
            g_assert_cmpstr(addr->u.vsock.port, ==, cases[i].b);
            break;
        case SOCKET_ADDRESS_TYPE_FD:
            g_assert_cmpstr(addr->u.fd.str, ==, cases[i].a);
            break;
        }
        g_assert_cmpstr(str, ==, cases[i].canonical);
    }
}

static void test_socket_parse_bad(void)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        { "tcp:host:99999", "invalid port '99999'" },
        { "tcp:host:", "invalid port ''" },
        { "tcp:host:-1", "invalid port '-1'" },
        { "tcp:host:http", "invalid port 'http'" },
        { "tcp:host", "lacks a port" },
        { "tcp:", "lacks a port" },
        { "tcp:::1:4444", "in brackets" },
        { "tcp:[::1]4444", "[ADDR]:PORT" },
        { "tcp:[::1", "[ADDR]:PORT" },
        { "tcp:h:1,bogus=on", "Unknown option 'bogus'" },
        { "tcp:h:1,ipv4=maybe", "must be on or off" },
        { "unix:", "lacks a path" },
        { "vsock:3", "expected vsock:CID:PORT" },
        { "vsock:x:1", "invalid vsock CID 'x'" },
        { "vsock:3:y", "invalid vsock port 'y'" },
        { "fd:", "lacks a file descriptor name" },
        { "foo:bar", "invalid port 'bar'" },
    };
    g_autofree char *long_path = g_strnfill(200, 'p');
    g_autofree char *long_unix = g_strdup_printf("unix:/%s", long_path);
    Error *err = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_null(socket_parse(cases[i].in, &err));
        if (!strstr(error_get_pretty(err), cases[i].msg)) {
            g_error("'%s': got '%s', expected '%s'", cases[i].in,
                    error_get_pretty(err), cases[i].msg);
        }
        /* Every message names the input (at least past the scheme). */
        g_assert_nonnull(strstr(error_get_pretty(err),
                                strchr(cases[i].in, ':') + 1));
        g_clear_pointer(&err, error_free);
    }
    g_assert_null(socket_parse(long_unix, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "too long"));
    error_free(err);
}

static void test_socket_connect_empty_host(void)
{
    g_autoptr(SocketAddress) addr = socket_parse("tcp::4444", &error_abort);
    g_autoptr(SocketAddress) zero = socket_parse("tcp:localhost:0",
                                                 &error_abort);
    Error *err = NULL;

    /* Parses (it means "every address" for listening), but cannot connect. */
    g_assert_cmpint(socket_connect(addr, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "no host given"));
    g_clear_pointer(&err, error_free);
    g_assert_cmpint(socket_connect(zero, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "port 0"));
    error_free(err);
}

static void test_socket_fd_number(void)
{
    g_autoptr(SocketAddress) addr = socket_parse("fd:notanumber",
                                                 &error_abort);
    g_autoptr(SocketAddress) closed = socket_parse("fd:987654", &error_abort);
    Error *err = NULL;

    g_assert_cmpint(socket_connect(addr, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "not a number"));
    g_clear_pointer(&err, error_free);
    g_assert_cmpint(socket_connect(closed, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "not open"));
    error_free(err);
}

static void test_uri_good(void)
{
    static const struct {
        const char *in;
        UriTransport transport;
        const char *canonical;
    } cases[] = {
        { "tcp:1.2.3.4:4444", URI_TRANSPORT_SOCKET, "tcp:1.2.3.4:4444" },
        { "unix:/run/mig.sock", URI_TRANSPORT_SOCKET, "unix:/run/mig.sock" },
        { "vsock:2:5000", URI_TRANSPORT_SOCKET, "vsock:2:5000" },
        { "fd:mig", URI_TRANSPORT_SOCKET, "fd:mig" },
        { "exec:cat > /tmp/x", URI_TRANSPORT_EXEC, "exec:cat > /tmp/x" },
        { "file:/tmp/img", URI_TRANSPORT_FILE, "file:/tmp/img" },
        { "file:/tmp/img,offset=0x1000", URI_TRANSPORT_FILE,
          "file:/tmp/img,offset=4096" },
        { "file:/tmp/a,b", URI_TRANSPORT_FILE, "file:/tmp/a,b" },
        { "rdma:[::1]:4444", URI_TRANSPORT_RDMA, "rdma:[::1]:4444" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(UriAddress) addr = uri_address_parse(cases[i].in,
                                                       &error_abort);
        g_autofree char *str = uri_address_to_string(addr);

        g_assert_cmpint(addr->transport, ==, cases[i].transport);
        g_assert_cmpstr(str, ==, cases[i].canonical);
    }
    {
        g_autoptr(UriAddress) f = uri_address_parse("file:/x,offset=1M",
                                                    &error_abort);

        g_assert_cmpstr(f->file_path, ==, "/x");
        g_assert_cmpuint(f->file_offset, ==, 1 * MiB);
    }
}

static void test_uri_bad(void)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        { "ftp:host:21", "unknown scheme 'ftp'" },
        { "nocolon", "lacks a scheme" },
        { ":4444", "lacks a scheme" },
        { "", "lacks a scheme" },
        { "exec:", "lacks a command" },
        { "file:", "lacks a file name" },
        { "file:,offset=4", "lacks a file name" },
        { "file:/x,offset=lots", "invalid offset 'lots'" },
        { "tcp:host:70000", "invalid port '70000'" },
        { "rdma:host", "lacks a port" },
        { "unix:", "lacks a path" },
    };
    Error *err = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_null(uri_address_parse(cases[i].in, &err));
        if (!strstr(error_get_pretty(err), cases[i].msg)) {
            g_error("'%s': got '%s', expected '%s'", cases[i].in,
                    error_get_pretty(err), cases[i].msg);
        }
        g_clear_pointer(&err, error_free);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/uri/socket/parse-good", test_socket_parse_good);
    g_test_add_func("/uri/socket/parse-bad", test_socket_parse_bad);
    g_test_add_func("/uri/socket/connect-empty-host",
                    test_socket_connect_empty_host);
    g_test_add_func("/uri/socket/fd-number", test_socket_fd_number);
    g_test_add_func("/uri/migration/good", test_uri_good);
    g_test_add_func("/uri/migration/bad", test_uri_bad);
    return g_test_run();
}
