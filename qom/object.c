/*
 * User-creatable objects by id (include/qom/object.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/option.h"
#include "qom/object.h"

/* Registered at start-up, read-only afterwards. */
static GPtrArray *types;

/* id -> UserObject (one reference each); protected by objects_lock. */
static GHashTable *objects;
static GMutex objects_lock;

void object_register_type(const UserObjectType *type)
{
    if (!types) {
        types = g_ptr_array_new();
    }
    g_ptr_array_add(types, (gpointer)type);
}

const UserObjectType *object_type_find(const char *name)
{
    for (guint i = 0; types && i < types->len; i++) {
        const UserObjectType *t = g_ptr_array_index(types, i);

        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

UserObject *object_ref(UserObject *obj)
{
    __atomic_fetch_add(&obj->refcount, 1, __ATOMIC_RELAXED);
    return obj;
}

void object_unref(UserObject *obj)
{
    if (obj && __atomic_fetch_sub(&obj->refcount, 1, __ATOMIC_ACQ_REL) == 1) {
        char *id = obj->id;

        obj->type->finalize(obj);
        g_free(id);
    }
}

static bool object_id_valid(const char *id)
{
    /* QEMU's rule: a letter first, then letters, digits, '-', '.', '_'. */
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool object_add(const char *type_name, const char *id, JsonObject *props,
                Error **errp)
{
    const UserObjectType *type = object_type_find(type_name);
    UserObject *obj;
    bool dup;

    if (!type) {
        error_setg(errp, "invalid object type: %s", type_name);
        return false;
    }
    if (!id || !object_id_valid(id)) {
        error_setg(errp, "%s: parameter 'id' is %s", type_name,
                   id ? "not a valid identifier (a letter, then letters, "
                   "digits, '-', '.' or '_')" : "missing");
        return false;
    }
    g_mutex_lock(&objects_lock);
    dup = objects && g_hash_table_contains(objects, id);
    g_mutex_unlock(&objects_lock);
    if (dup) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type 'container')", id);
        return false;
    }
    obj = type->create(id, props, errp);
    if (!obj) {
        return false;
    }
    obj->type = type;
    obj->id = g_strdup(id);
    obj->refcount = 1;
    g_mutex_lock(&objects_lock);
    if (!objects) {
        objects = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(objects, obj->id, obj);
    g_mutex_unlock(&objects_lock);
    return true;
}

bool object_del(const char *id, Error **errp)
{
    UserObject *obj = NULL;

    g_mutex_lock(&objects_lock);
    if (objects) {
        obj = g_hash_table_lookup(objects, id);
        if (obj && !obj->type->permanent) {
            g_hash_table_remove(objects, id);
        }
    }
    g_mutex_unlock(&objects_lock);
    if (!obj) {
        error_setg(errp, "object '%s' not found", id);
        return false;
    }
    if (obj->type->permanent) {
        error_setg(errp, "object '%s' is in use, can not be deleted", id);
        return false;
    }
    object_unref(obj);
    return true;
}

UserObject *object_find_ref(const char *id)
{
    UserObject *obj = NULL;

    g_mutex_lock(&objects_lock);
    if (objects) {
        obj = g_hash_table_lookup(objects, id);
        if (obj) {
            object_ref(obj);
        }
    }
    g_mutex_unlock(&objects_lock);
    return obj;
}

JsonNode *object_list_json(void)
{
    JsonArray *arr = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);
    GHashTableIter it;
    gpointer value;

    g_mutex_lock(&objects_lock);
    if (objects) {
        g_hash_table_iter_init(&it, objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            UserObject *obj = value;
            JsonObject *o = json_object_new();

            json_object_set_string_member(o, "id", obj->id);
            json_object_set_string_member(o, "qom-type", obj->type->name);
            json_array_add_object_element(arr, o);
        }
    }
    g_mutex_unlock(&objects_lock);
    json_node_take_array(node, arr);
    return node;
}

static void object_opt_to_json(const char *key, const char *value,
                               void *opaque)
{
    json_object_set_string_member(opaque, key, value);
}

bool object_add_from_cmdline(const char *arg, Error **errp)
{
    g_autoptr(JsonObject) props = NULL;
    g_autofree char *type = NULL;
    g_autofree char *id = NULL;

    if (arg[0] == '{') {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonNode *root;
        GError *gerr = NULL;

        if (!json_parser_load_from_data(parser, arg, -1, &gerr)) {
            error_setg(errp, "invalid JSON: %s", gerr->message);
            g_error_free(gerr);
            return false;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            error_setg(errp, "a JSON -object must be a JSON object");
            return false;
        }
        props = json_object_ref(json_node_get_object(root));
    } else {
        g_autoptr(QemuOpts) opts = qemu_opts_parse(arg, "qom-type", errp);

        if (!opts) {
            return false;
        }
        props = json_object_new();
        qemu_opts_foreach(opts, object_opt_to_json, props);
    }
    if (!json_object_has_member(props, "qom-type") ||
        !JSON_NODE_HOLDS_VALUE(json_object_get_member(props, "qom-type"))) {
        error_setg(errp, "parameter 'qom-type' is missing");
        return false;
    }
    type = g_strdup(json_object_get_string_member(props, "qom-type"));
    json_object_remove_member(props, "qom-type");
    if (json_object_has_member(props, "id")) {
        id = g_strdup(json_object_get_string_member(props, "id"));
        json_object_remove_member(props, "id");
    }
    return object_add(type, id, props, errp);
}

const char *object_prop_str(JsonObject *props, const char *key)
{
    JsonNode *n = json_object_get_member(props, key);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

bool object_prop_bool(JsonObject *props, const char *key, bool def,
                      bool *out, const char *obj_type, const char *id,
                      Error **errp)
{
    JsonNode *n = json_object_get_member(props, key);

    *out = def;
    if (!n) {
        return true;
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_BOOLEAN) {
        *out = json_node_get_boolean(n);
        return true;
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_STRING &&
        qemu_parse_bool(json_node_get_string(n), out)) {
        return true;
    }
    error_setg(errp, "%s '%s': property '%s' expects a boolean (on/off)",
               obj_type, id, key);
    return false;
}

bool object_props_check(JsonObject *props, const char *const *known,
                        const char *obj_type, const char *id, Error **errp)
{
    g_autoptr(GList) members = json_object_get_members(props);

    for (GList *l = members; l; l = l->next) {
        bool found = false;

        for (int i = 0; known[i]; i++) {
            found |= !strcmp(known[i], l->data);
        }
        if (!found) {
            error_setg(errp, "%s '%s': property '%s' not found", obj_type,
                       id, (const char *)l->data);
            return false;
        }
    }
    return true;
}
