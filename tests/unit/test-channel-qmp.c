/*
 * The "channels" argument of migrate / migrate-incoming as a URI
 * (migration/channel-qmp.c): every address form, the spelling details a
 * qtest cannot reach cheaply (IPv6 brackets, socket options, exec
 * quoting, offsets), and QEMU's messages for bad lists.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor/qmp-commands.h"
#include "../../migration/channel-qmp.h"

/* dispatch.c's table: no commands are run here. */
const QmpCommand qmp_commands[] = { { NULL } };

/* The URI for the JSON list @json, or NULL with the error in *@msg. */
static char *to_uri(const char *json, char **msg)
{
    g_autoptr(JsonParser) p = json_parser_new();
    Error *err = NULL;
    char *uri;

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    uri = migrate_channels_to_uri(json_node_get_array(
                                      json_parser_get_root(p)),
                                  "migrate", &err);
    g_assert_true(!uri == !!err);
    if (err) {
        *msg = g_strdup(error_get_pretty(err));
        error_free(err);
    }
    return uri;
}

static void check_uri(const char *addr, const char *want)
{
    g_autofree char *json = g_strdup_printf(
        "[{\"channel-type\": \"main\", \"addr\": %s}]", addr);
    g_autofree char *msg = NULL;
    g_autofree char *uri = to_uri(json, &msg);

    if (!uri) {
        g_error("%s refused: %s", addr, msg);
    }
    g_assert_cmpstr(uri, ==, want);
}

static void check_error(const char *json, const char *needle)
{
    g_autofree char *msg = NULL;
    g_autofree char *uri = to_uri(json, &msg);

    if (uri) {
        g_error("%s accepted as %s", json, uri);
    }
    if (!strstr(msg, needle)) {
        g_error("%s: '%s' does not mention '%s'", json, msg, needle);
    }
}

static void test_forms(void)
{
    check_uri("{\"transport\": \"socket\", \"type\": \"unix\", "
              "\"path\": \"/tmp/m.sock\"}", "unix:/tmp/m.sock");
    check_uri("{\"transport\": \"socket\", \"type\": \"inet\", "
              "\"host\": \"127.0.0.1\", \"port\": \"4444\"}",
              "tcp:127.0.0.1:4444");
    check_uri("{\"transport\": \"socket\", \"type\": \"inet\", "
              "\"host\": \"::1\", \"port\": \"0\", \"ipv6\": true, "
              "\"numeric\": true}", "tcp:[::1]:0,ipv6=on");
    check_uri("{\"transport\": \"socket\", \"type\": \"inet\", "
              "\"host\": \"localhost\", \"port\": \"1\", \"ipv4\": true, "
              "\"ipv6\": false}", "tcp:localhost:1,ipv4=on,ipv6=off");
    check_uri("{\"transport\": \"socket\", \"type\": \"vsock\", "
              "\"cid\": \"3\", \"port\": \"1234\"}", "vsock:3:1234");
    check_uri("{\"transport\": \"socket\", \"type\": \"fd\", "
              "\"str\": \"migfd\"}", "fd:migfd");
    check_uri("{\"transport\": \"exec\", \"args\": [\"dd\", "
              "\"of=/tmp/a b'c\", \"status=none\"]}",
              "exec:'dd' 'of=/tmp/a b'\\''c' 'status=none'");
    check_uri("{\"transport\": \"file\", \"filename\": \"/tmp/f\"}",
              "file:/tmp/f");
    check_uri("{\"transport\": \"file\", \"filename\": \"/tmp/f\", "
              "\"offset\": 4096}", "file:/tmp/f,offset=4096");
    /* Turned into the rdma: URI (RDMA itself is rdma-test.c's). */
    check_uri("{\"transport\": \"rdma\", \"host\": \"10.0.0.1\", "
              "\"port\": \"4444\"}", "rdma:10.0.0.1:4444");
}

static void test_errors(void)
{
    check_error("[]", "neither 'uri' or 'channels' argument are specified "
                "in 'migrate' qmp command");
    check_error("[{\"channel-type\": \"main\", \"addr\": {\"transport\": "
                "\"file\", \"filename\": \"/x\"}}, {\"channel-type\": "
                "\"main\", \"addr\": {\"transport\": \"file\", "
                "\"filename\": \"/y\"}}]",
                "Channel list has more than one entries");
    check_error("[42]", "Invalid parameter type for 'channels[0]', "
                "expected: object");
    check_error("[{\"addr\": {}}]",
                "Parameter 'channels[0].channel-type' is missing");
    check_error("[{\"channel-type\": \"main\", \"addr\": {\"transport\": "
                "\"exec\", \"args\": [\"ls\", 7]}}]",
                "Invalid parameter type for 'channels[0].addr.args[1]', "
                "expected: string");
    check_error("[{\"channel-type\": \"main\", \"addr\": {\"transport\": "
                "\"file\", \"filename\": \"/a,offset=9\"}}]",
                "a file name with a comma");
    check_error("[{\"channel-type\": \"main\", \"addr\": {\"transport\": "
                "\"file\", \"filename\": \"/a\", \"offset\": -1}}]",
                "channels[0].addr.offset");
    check_error("[{\"channel-type\": \"main\", \"addr\": {\"transport\": "
                "\"socket\", \"type\": \"vsock\", \"cid\": 3, "
                "\"port\": \"1\"}}]",
                "Invalid parameter type for 'channels[0].addr.cid'");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/channel-qmp/forms", test_forms);
    g_test_add_func("/channel-qmp/errors", test_errors);
    return g_test_run();
}
