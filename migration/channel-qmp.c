/*
 * The "channels" argument of migrate and migrate-incoming (QEMU 8.2+'s
 * MigrationChannel list) as a migration URI: every address QEMU's
 * MigrationAddress can name has a URI spelling, and the rest of the
 * migration code (multifd, postcopy-preempt and recovery reconnect to the
 * same place) keeps working on URIs.
 *
 * Members are checked with QEMU's QAPI wording ("Parameter
 * 'channels[0].addr.path' is missing"), so a harness written against QEMU
 * sees the messages it expects.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "monitor/qmp-commands.h"
#include "channel-qmp.h"
#include "trace.h"

/* Schemas of each address kind (qmp_check_object() syntax). */
#define SCHEMA_SOCKET_INET \
    "transport:str,type:str,host:str,port:str,*numeric:bool,*ipv4:bool," \
    "*ipv6:bool"
#define SCHEMA_SOCKET_UNIX "transport:str,type:str,path:str"
#define SCHEMA_SOCKET_VSOCK "transport:str,type:str,cid:str,port:str"
#define SCHEMA_SOCKET_FD "transport:str,type:str,str:str"
#define SCHEMA_EXEC "transport:str,args:array"
#define SCHEMA_RDMA "transport:str,host:str,port:str,*numeric:bool," \
    "*ipv4:bool,*ipv6:bool"
#define SCHEMA_FILE "transport:str,filename:str,*offset:uint64"

static void channel_bad_value(const char *prefix, const char *member,
                              const char *value, Error **errp)
{
    error_setg(errp, "Parameter '%s%s' does not accept value '%s'", prefix,
               member, value);
}

/* host:port with IPv6 literals in brackets, plus ,ipv4=/ipv6= options. */
static char *channel_inet_uri(const char *scheme, JsonObject *a)
{
    const char *host = json_object_get_string_member(a, "host");
    const char *port = json_object_get_string_member(a, "port");
    GString *uri = g_string_new(scheme);

    if (strchr(host, ':')) {
        g_string_append_printf(uri, ":[%s]:%s", host, port);
    } else {
        g_string_append_printf(uri, ":%s:%s", host, port);
    }
    for (int i = 0; i < 2; i++) {
        const char *opt = i ? "ipv6" : "ipv4";

        if (json_object_has_member(a, opt)) {
            g_string_append_printf(uri, ",%s=%s", opt,
                                   json_object_get_boolean_member(a, opt)
                                   ? "on" : "off");
        }
    }
    return g_string_free(uri, FALSE);
}

static char *channel_socket_uri(JsonObject *a, const char *prefix,
                                Error **errp)
{
    const char *type;

    if (!qmp_check_object(a, "transport:str,type:str,**", prefix, errp)) {
        return NULL;
    }
    type = json_object_get_string_member(a, "type");
    if (!strcmp(type, "inet")) {
        return qmp_check_object(a, SCHEMA_SOCKET_INET, prefix, errp)
               ? channel_inet_uri("tcp", a) : NULL;
    }
    if (!strcmp(type, "unix")) {
        return qmp_check_object(a, SCHEMA_SOCKET_UNIX, prefix, errp)
               ? g_strdup_printf("unix:%s",
                                 json_object_get_string_member(a, "path"))
               : NULL;
    }
    if (!strcmp(type, "vsock")) {
        return qmp_check_object(a, SCHEMA_SOCKET_VSOCK, prefix, errp)
               ? g_strdup_printf("vsock:%s:%s",
                                 json_object_get_string_member(a, "cid"),
                                 json_object_get_string_member(a, "port"))
               : NULL;
    }
    if (!strcmp(type, "fd")) {
        return qmp_check_object(a, SCHEMA_SOCKET_FD, prefix, errp)
               ? g_strdup_printf("fd:%s",
                                 json_object_get_string_member(a, "str"))
               : NULL;
    }
    channel_bad_value(prefix, "type", type, errp);
    return NULL;
}

/*
 * QEMU runs the list with execvp(); exec: URIs go through /bin/sh -c, so
 * each word is quoted to reach the program unchanged.
 */
static char *channel_exec_uri(JsonObject *a, const char *prefix,
                              Error **errp)
{
    JsonArray *args;
    g_autoptr(GString) uri = g_string_new("exec:");

    if (!qmp_check_object(a, SCHEMA_EXEC, prefix, errp)) {
        return NULL;
    }
    args = json_object_get_array_member(a, "args");
    if (json_array_get_length(args) == 0) {
        error_setg(errp, "Parameter '%sargs' must name a program", prefix);
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(args); i++) {
        JsonNode *n = json_array_get_element(args, i);
        g_autofree char *quoted = NULL;

        if (!JSON_NODE_HOLDS_VALUE(n) ||
            json_node_get_value_type(n) != G_TYPE_STRING) {
            error_setg(errp, "Invalid parameter type for '%sargs[%u]', "
                       "expected: string", prefix, i);
            return NULL;
        }
        quoted = g_shell_quote(json_node_get_string(n));
        g_string_append_printf(uri, "%s%s", i ? " " : "", quoted);
    }
    return g_string_free(g_steal_pointer(&uri), FALSE);
}

static char *channel_file_uri(JsonObject *a, const char *prefix,
                              Error **errp)
{
    const char *name;
    int64_t offset;

    if (!qmp_check_object(a, SCHEMA_FILE, prefix, errp)) {
        return NULL;
    }
    name = json_object_get_string_member(a, "filename");
    if (strchr(name, ',')) {
        /* The URI form ends the name at a comma (",offset=N"). */
        error_setg(errp, "Parameter '%sfilename': a file name with a comma "
                   "is not supported", prefix);
        return NULL;
    }
    offset = json_object_get_int_member_with_default(a, "offset", 0);
    if (offset < 0) {
        /* QAPI wraps a negative uint64; no file has such an offset. */
        error_setg(errp, "Parameter '%soffset': %" PRIu64 " is beyond any "
                   "file", prefix, (uint64_t)offset);
        return NULL;
    }
    return offset ? g_strdup_printf("file:%s,offset=%" PRIu64, name,
                                    (uint64_t)offset)
                  : g_strdup_printf("file:%s", name);
}

static char *channel_addr_uri(JsonObject *addr, const char *prefix,
                              Error **errp)
{
    const char *transport;

    if (!qmp_check_object(addr, "transport:str,**", prefix, errp)) {
        return NULL;
    }
    transport = json_object_get_string_member(addr, "transport");
    if (!strcmp(transport, "socket")) {
        return channel_socket_uri(addr, prefix, errp);
    }
    if (!strcmp(transport, "exec")) {
        return channel_exec_uri(addr, prefix, errp);
    }
    if (!strcmp(transport, "file")) {
        return channel_file_uri(addr, prefix, errp);
    }
    if (!strcmp(transport, "rdma")) {
        /* Checked, then handed on as the equivalent "rdma:" URI. */
        return qmp_check_object(addr, SCHEMA_RDMA, prefix, errp)
               ? channel_inet_uri("rdma", addr) : NULL;
    }
    channel_bad_value(prefix, "transport", transport, errp);
    return NULL;
}

char *migrate_channels_to_uri(JsonArray *channels, const char *cmd,
                              Error **errp)
{
    JsonNode *n;
    JsonObject *ch;
    const char *type;
    char *uri;

    if (json_array_get_length(channels) == 0) {
        /* QAPI: an empty list is as good as none. */
        error_setg(errp, "neither 'uri' or 'channels' argument are "
                   "specified in '%s' qmp command", cmd);
        return NULL;
    }
    if (json_array_get_length(channels) > 1) {
        error_setg(errp, "Channel list has more than one entries");
        return NULL;
    }
    n = json_array_get_element(channels, 0);
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        error_setg(errp, "Invalid parameter type for 'channels[0]', "
                   "expected: object");
        return NULL;
    }
    ch = json_node_get_object(n);
    if (!qmp_check_object(ch, "channel-type:str,addr:object", "channels[0].",
                          errp)) {
        return NULL;
    }
    type = json_object_get_string_member(ch, "channel-type");
    if (strcmp(type, "main")) {
        channel_bad_value("channels[0].", "channel-type", type, errp);
        return NULL;
    }
    uri = channel_addr_uri(json_object_get_object_member(ch, "addr"),
                           "channels[0].addr.", errp);
    trace_migrate_channels_to_uri(cmd, uri ? uri : "(error)");
    return uri;
}
