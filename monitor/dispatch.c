/*
 * QMP request checking and dispatch: the request envelope, argument
 * checking against the command table's schemas, and the call itself.
 * Error messages are QEMU's, word for word.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor/qmp-commands.h"
#include "monitor-internal.h"
#include "trace.h"

typedef enum QmpArgType {
    QMP_ARG_STR,
    QMP_ARG_BOOL,
    QMP_ARG_INT,
    QMP_ARG_UINT64,
    QMP_ARG_NUMBER,
    QMP_ARG_OBJECT,
    QMP_ARG_ARRAY,
    QMP_ARG_ANY,
} QmpArgType;

/* Schema type names, and the word QEMU's type errors use for each. */
static const struct {
    const char *name;
    const char *expected;
} qmp_arg_types[] = {
    [QMP_ARG_STR] = { "str", "string" },
    [QMP_ARG_BOOL] = { "bool", "boolean" },
    [QMP_ARG_INT] = { "int", "integer" },
    [QMP_ARG_UINT64] = { "uint64", "uint64" },
    [QMP_ARG_NUMBER] = { "number", "number" },
    [QMP_ARG_OBJECT] = { "object", "object" },
    [QMP_ARG_ARRAY] = { "array", "array" },
    [QMP_ARG_ANY] = { "any", "any" },
};

typedef struct QmpArgSpec {
    char *name;
    QmpArgType type;
    bool optional;
} QmpArgSpec;

static void qmp_arg_spec_free(gpointer p)
{
    QmpArgSpec *spec = p;

    g_free(spec->name);
    g_free(spec);
}

/* Parse "a:int,*b:str" into QmpArgSpecs; NULL if malformed. */
static GPtrArray *qmp_schema_parse(const char *schema)
{
    g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func(
                                     qmp_arg_spec_free);
    g_auto(GStrv) items = g_strsplit(schema, ",", -1);

    for (char **it = items; *it; it++) {
        const char *item = *it;
        const char *colon;
        QmpArgSpec *spec;
        size_t t;

        if (!item[0]) {
            continue;
        }
        spec = g_new0(QmpArgSpec, 1);
        if (!strcmp(item, "**")) {
            /* Open: other members are the handler's to check. */
            spec->type = QMP_ARG_ANY;
            spec->optional = true;
            g_ptr_array_add(specs, spec);
            continue;
        }
        g_ptr_array_add(specs, spec);
        spec->optional = item[0] == '*';
        item += spec->optional;
        colon = strchr(item, ':');
        if (!colon || colon == item) {
            return NULL;
        }
        spec->name = g_strndup(item, colon - item);
        for (t = 0; t < ARRAY_SIZE(qmp_arg_types); t++) {
            if (!strcmp(colon + 1, qmp_arg_types[t].name)) {
                break;
            }
        }
        if (t == ARRAY_SIZE(qmp_arg_types)) {
            return NULL;
        }
        spec->type = t;
    }
    return g_steal_pointer(&specs);
}

void qmp_commands_validate(void)
{
    for (const QmpCommand *cmd = qmp_commands; cmd->name; cmd++) {
        g_autoptr(GPtrArray) specs = qmp_schema_parse(cmd->args);

        if (!specs) {
            error_report("QMP command %s: bad argument schema '%s'",
                         cmd->name, cmd->args);
            abort();
        }
    }
}

const QmpCommand *qmp_find_command(const char *name)
{
    for (const QmpCommand *cmd = qmp_commands; cmd->name; cmd++) {
        if (!strcmp(cmd->name, name)) {
            return cmd;
        }
    }
    return NULL;
}

static bool qmp_node_is_int(JsonNode *node)
{
    return JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == G_TYPE_INT64;
}

static bool qmp_type_matches(JsonNode *node, QmpArgType type)
{
    switch (type) {
    case QMP_ARG_STR:
        return JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_STRING;
    case QMP_ARG_BOOL:
        return JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_BOOLEAN;
    case QMP_ARG_INT:
    case QMP_ARG_UINT64:
        /* QEMU takes negative values for uint64 too (compatibility). */
        return qmp_node_is_int(node);
    case QMP_ARG_NUMBER:
        return qmp_node_is_int(node) ||
               (JSON_NODE_HOLDS_VALUE(node) &&
                json_node_get_value_type(node) == G_TYPE_DOUBLE);
    case QMP_ARG_OBJECT:
        return JSON_NODE_HOLDS_OBJECT(node);
    case QMP_ARG_ARRAY:
        return JSON_NODE_HOLDS_ARRAY(node);
    case QMP_ARG_ANY:
        return true;
    }
    return false;
}

/*
 * QEMU's order: declared members in order (missing, then wrong type),
 * and only then members nobody declared.
 */
static bool qmp_check_specs(GPtrArray *specs, JsonObject *obj,
                            const char *prefix, Error **errp)
{
    g_autoptr(GList) members = obj ? json_object_get_members(obj) : NULL;
    bool open = false;

    for (guint i = 0; i < specs->len; i++) {
        QmpArgSpec *spec = g_ptr_array_index(specs, i);
        JsonNode *node;

        if (!spec->name) {
            open = true;
            continue;
        }
        node = obj ? json_object_get_member(obj, spec->name) : NULL;

        if (!node) {
            if (spec->optional) {
                continue;
            }
            error_setg(errp, "Parameter '%s%s' is missing", prefix,
                       spec->name);
            return false;
        }
        if (!qmp_type_matches(node, spec->type)) {
            error_setg(errp, "Invalid parameter type for '%s%s', "
                       "expected: %s", prefix, spec->name,
                       qmp_arg_types[spec->type].expected);
            return false;
        }
    }
    for (GList *m = open ? NULL : members; m; m = m->next) {
        guint i;

        for (i = 0; i < specs->len; i++) {
            QmpArgSpec *spec = g_ptr_array_index(specs, i);

            if (!strcmp(spec->name, m->data)) {
                break;
            }
        }
        if (i == specs->len) {
            error_setg(errp, "Parameter '%s%s' is unexpected", prefix,
                       (const char *)m->data);
            return false;
        }
    }
    return true;
}

bool qmp_check_object(JsonObject *obj, const char *schema,
                      const char *prefix, Error **errp)
{
    g_autoptr(GPtrArray) specs = qmp_schema_parse(schema);

    assert(specs);
    return qmp_check_specs(specs, obj, prefix ? prefix : "", errp);
}

bool qmp_check_args(const QmpCommand *cmd, JsonObject *args, Error **errp)
{
    return qmp_check_object(args, cmd->args, "", errp);
}

static bool qmp_run(const QmpCommand *cmd, JsonObject *args,
                    JsonNode **ret, Error **errp)
{
    Error *local_err = NULL;

    *ret = NULL;
    if (!qmp_check_args(cmd, args, errp)) {
        return false;
    }
    trace_qmp_command(cmd->name);
    cmd->handler(args, ret, &local_err);
    if (local_err) {
        trace_qmp_command_error(cmd->name, error_get_pretty(local_err));
        if (*ret) {
            json_node_unref(*ret);
            *ret = NULL;
        }
        error_propagate(errp, local_err);
        return false;
    }
    return true;
}

bool qmp_call(const char *name, JsonObject *args, JsonNode **ret,
              Error **errp)
{
    const QmpCommand *cmd = qmp_find_command(name);
    bool ok;

    *ret = NULL;
    if (!cmd) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
        ok = false;
    } else {
        ok = qmp_run(cmd, args, ret, errp);
    }
    if (args) {
        json_object_unref(args);
    }
    return ok;
}

/* The request envelope: execute, arguments and id only. */
static bool qmp_check_request(JsonNode *req, const char **command,
                              JsonObject **args, Error **errp)
{
    JsonObject *obj;
    g_autoptr(GList) members = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        error_setg(errp, "QMP input must be a JSON object");
        return false;
    }
    obj = json_node_get_object(req);
    members = json_object_get_members(obj);
    *command = NULL;
    *args = NULL;
    for (GList *m = members; m; m = m->next) {
        const char *key = m->data;
        JsonNode *val = json_object_get_member(obj, key);

        if (!strcmp(key, "execute")) {
            if (!JSON_NODE_HOLDS_VALUE(val) ||
                json_node_get_value_type(val) != G_TYPE_STRING) {
                error_setg(errp, "QMP input member 'execute' must be a "
                           "string");
                return false;
            }
            *command = json_node_get_string(val);
        } else if (!strcmp(key, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(val)) {
                error_setg(errp, "QMP input member 'arguments' must be an "
                           "object");
                return false;
            }
            *args = json_node_get_object(val);
        } else if (strcmp(key, "id")) {
            error_setg(errp, "QMP input member '%s' is unexpected", key);
            return false;
        }
    }
    if (!*command) {
        error_setg(errp, "QMP input lacks member 'execute'");
        return false;
    }
    return true;
}

JsonNode *qmp_dispatch(JsonNode *req, bool negotiated, Error **errp)
{
    const char *name;
    JsonObject *args;
    const QmpCommand *cmd;
    JsonNode *ret = NULL;

    if (!qmp_check_request(req, &name, &args, errp)) {
        return NULL;
    }
    cmd = qmp_find_command(name);
    if (!cmd || (!negotiated && !(cmd->flags & QMP_CMD_NEGOTIATION))) {
        trace_qmp_command_not_found(name);
        if (!negotiated) {
            error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                      "Expecting capabilities negotiation with "
                      "'qmp_capabilities'");
        } else {
            error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                      "The command %s has not been found", name);
        }
        return NULL;
    }
    if (!qmp_run(cmd, args, &ret, errp)) {
        return NULL;
    }
    return ret ? ret : qmp_node_object(json_object_new());
}

/* ---- argument accessors and return builders ---- */

JsonNode *qmp_arg_node(JsonObject *args, const char *name)
{
    return args ? json_object_get_member(args, name) : NULL;
}

bool qmp_arg_has(JsonObject *args, const char *name)
{
    return qmp_arg_node(args, name) != NULL;
}

const char *qmp_arg_str(JsonObject *args, const char *name, const char *def)
{
    JsonNode *node = qmp_arg_node(args, name);

    return node && qmp_type_matches(node, QMP_ARG_STR) ?
           json_node_get_string(node) : def;
}

bool qmp_arg_bool(JsonObject *args, const char *name, bool def)
{
    JsonNode *node = qmp_arg_node(args, name);

    return node && qmp_type_matches(node, QMP_ARG_BOOL) ?
           json_node_get_boolean(node) : def;
}

int64_t qmp_arg_int(JsonObject *args, const char *name, int64_t def)
{
    JsonNode *node = qmp_arg_node(args, name);

    return node && qmp_node_is_int(node) ? json_node_get_int(node) : def;
}

double qmp_arg_number(JsonObject *args, const char *name, double def)
{
    JsonNode *node = qmp_arg_node(args, name);

    if (!node || !qmp_type_matches(node, QMP_ARG_NUMBER)) {
        return def;
    }
    return qmp_node_is_int(node) ? (double)json_node_get_int(node)
                                 : json_node_get_double(node);
}

JsonNode *qmp_node_object(JsonObject *obj)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, obj);
    return node;
}

JsonNode *qmp_node_array(JsonArray *arr)
{
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(node, arr);
    return node;
}

JsonNode *qmp_node_string(const char *str)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_string(node, str);
    return node;
}
