/*
 * authz-simple and authz-list (include/authz/authz.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <fnmatch.h>
#include "qom/object.h"
#include "authz/authz.h"

typedef struct AuthzRule {
    char *match;
    bool allow;
    bool glob;
} AuthzRule;

/* Immutable once created. */
typedef struct Authz {
    UserObject parent;
    bool allow_default;
    AuthzRule *rules;       /* authz-simple: one exact allow rule */
    size_t nrules;
} Authz;

static void authz_finalize(UserObject *obj)
{
    Authz *az = (Authz *)obj;

    for (size_t i = 0; i < az->nrules; i++) {
        g_free(az->rules[i].match);
    }
    g_free(az->rules);
    g_free(az);
}

static UserObject *authz_simple_create(const char *id, JsonObject *props,
                                       Error **errp)
{
    static const char *const keys[] = { "identity", NULL };
    const char *identity = object_prop_str(props, "identity");
    Authz *az;

    if (!object_props_check(props, keys, "authz-simple", id, errp)) {
        return NULL;
    }
    if (!identity) {
        error_setg(errp, "authz-simple '%s': property 'identity' is missing",
                   id);
        return NULL;
    }
    az = g_new0(Authz, 1);
    az->rules = g_new0(AuthzRule, 1);
    az->rules[0].match = g_strdup(identity);
    az->rules[0].allow = true;
    az->nrules = 1;
    return &az->parent;
}

static bool authz_parse_policy(const char *s, bool *allow, const char *id,
                               const char *what, Error **errp)
{
    if (!s || !strcmp(s, "deny")) {
        *allow = false;
    } else if (!strcmp(s, "allow")) {
        *allow = true;
    } else {
        error_setg(errp, "authz-list '%s': %s must be 'allow' or 'deny', "
                   "not '%s'", id, what, s);
        return false;
    }
    return true;
}

static bool authz_list_rule(JsonNode *node, AuthzRule *rule, const char *id,
                            guint i, Error **errp)
{
    JsonObject *r;
    const char *format;
    g_autofree char *what = g_strdup_printf("rules[%u].policy", i);

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        error_setg(errp, "authz-list '%s': rules[%u] must be an object", id,
                   i);
        return false;
    }
    r = json_node_get_object(node);
    if (!object_prop_str(r, "match")) {
        error_setg(errp, "authz-list '%s': rules[%u].match is missing", id,
                   i);
        return false;
    }
    format = object_prop_str(r, "format");
    if (format && strcmp(format, "exact") && strcmp(format, "glob")) {
        error_setg(errp, "authz-list '%s': rules[%u].format must be 'exact' "
                   "or 'glob', not '%s'", id, i, format);
        return false;
    }
    if (!authz_parse_policy(object_prop_str(r, "policy"), &rule->allow, id,
                            what, errp)) {
        return false;
    }
    rule->glob = format && !strcmp(format, "glob");
    rule->match = g_strdup(object_prop_str(r, "match"));
    return true;
}

static UserObject *authz_list_create(const char *id, JsonObject *props,
                                     Error **errp)
{
    static const char *const keys[] = { "policy", "rules", NULL };
    JsonNode *rules = json_object_get_member(props, "rules");
    JsonArray *arr = NULL;
    Authz *az;

    if (!object_props_check(props, keys, "authz-list", id, errp)) {
        return NULL;
    }
    if (rules && !JSON_NODE_HOLDS_NULL(rules)) {
        if (!JSON_NODE_HOLDS_ARRAY(rules)) {
            error_setg(errp, "authz-list '%s': property 'rules' must be a "
                       "JSON array (use the JSON form of -object)", id);
            return NULL;
        }
        arr = json_node_get_array(rules);
    }
    az = g_new0(Authz, 1);
    if (!authz_parse_policy(object_prop_str(props, "policy"),
                            &az->allow_default, id, "policy", errp)) {
        authz_finalize(&az->parent);
        return NULL;
    }
    az->rules = g_new0(AuthzRule, arr ? json_array_get_length(arr) : 0);
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        if (!authz_list_rule(json_array_get_element(arr, i),
                             &az->rules[az->nrules], id, i, errp)) {
            authz_finalize(&az->parent);
            return NULL;
        }
        az->nrules++;
    }
    return &az->parent;
}

static const UserObjectType authz_types[] = {
    { "authz-simple", authz_simple_create, authz_finalize },
    { "authz-list", authz_list_create, authz_finalize },
};

void authz_register_types(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(authz_types); i++) {
        object_register_type(&authz_types[i]);
    }
}

bool authz_is_allowed(const char *authz_id, const char *identity,
                      Error **errp)
{
    UserObject *obj = object_find_ref(authz_id);
    Authz *az;
    bool allow;

    if (!obj || obj->type->finalize != authz_finalize) {
        error_setg(errp, "No authorization object with id '%s'", authz_id);
        object_unref(obj);
        return false;
    }
    az = (Authz *)obj;
    allow = az->allow_default;
    for (size_t i = 0; i < az->nrules; i++) {
        const AuthzRule *r = &az->rules[i];
        bool hit = r->glob ? fnmatch(r->match, identity, 0) == 0
                           : strcmp(r->match, identity) == 0;

        if (hit) {
            allow = r->allow;
            break;
        }
    }
    if (!allow) {
        error_setg(errp, "%s '%s' refuses the identity '%s'",
                   obj->type->name, authz_id, identity);
    }
    object_unref(obj);
    return allow;
}
