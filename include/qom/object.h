/*
 * User-creatable objects: what -object and QMP object-add build, found
 * by id (a QOM-style registry without QOM's class machinery).
 *
 * A type registers a name ("tls-creds-psk") and a constructor that
 * reads its properties from a JSON object: -object's key=value list
 * arrives as string members (the helpers below accept "on"/"off" for a
 * bool), JSON -object and object-add as typed members.
 *
 * Objects are reference counted: object-del drops the registry's
 * reference, and a user (a migration holding its tls-creds) keeps the
 * object alive until it is done.  The registry is protected by its own
 * lock, so lookups may come from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QOM_OBJECT_H
#define QOM_OBJECT_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

typedef struct UserObject UserObject;
typedef struct UserObjectType UserObjectType;

struct UserObjectType {
    const char *name;
    /*
     * Build an object from @props (the id is already checked and not in
     * @props).  The returned object embeds UserObject as its first member;
     * object_init() is done by the registry.
     */
    UserObject *(*create)(const char *id, JsonObject *props, Error **errp);
    /* Free the type's state (the last reference went). */
    void (*finalize)(UserObject *obj);
    /* object-del refuses it (the machine uses it for its lifetime). */
    bool permanent;
};

struct UserObject {
    const UserObjectType *type;     /* immutable */
    char *id;                       /* immutable */
    int refcount;                   /* atomic */
};

/* Register @type (static storage); at start-up, before any thread. */
void object_register_type(const UserObjectType *type);
const UserObjectType *object_type_find(const char *name);

/*
 * Build an object of @type_name called @id from @props (which must not
 * hold "qom-type" or "id") and add it to the registry.
 */
bool object_add(const char *type_name, const char *id, JsonObject *props,
                Error **errp);
/* -object's argument: "TYPE,id=ID,key=value,..." or a JSON object. */
bool object_add_from_cmdline(const char *arg, Error **errp);
bool object_del(const char *id, Error **errp);

/* A new reference to object @id, or NULL. */
UserObject *object_find_ref(const char *id);
UserObject *object_ref(UserObject *obj);
void object_unref(UserObject *obj);
/* [{"id": ..., "qom-type": ...}] as query-objects-like JSON. */
JsonNode *object_list_json(void);

/*
 * Property helpers for constructors.  Each reads member @key of @props,
 * accepting the typed JSON value or its command-line string; on a bad
 * value the error names @obj_type, @id and @key.
 */
const char *object_prop_str(JsonObject *props, const char *key);
bool object_prop_bool(JsonObject *props, const char *key, bool def,
                      bool *out, const char *obj_type, const char *id,
                      Error **errp);
/* Fail on a key not in the NULL-terminated @known. */
bool object_props_check(JsonObject *props, const char *const *known,
                        const char *obj_type, const char *id, Error **errp);

#endif
