/*
 * Authorization objects for tls-authz, with QEMU's type and property
 * names:
 *
 *   authz-simple  identity=ID          (exactly one identity allowed)
 *   authz-list    policy=allow|deny, rules=[{"match": M, "policy":
 *                 "allow"|"deny", "format": "exact"|"glob"}, ...]
 *                 (the first matching rule decides; none: the policy;
 *                 rules need the JSON form of -object or object-add)
 *
 * The identity checked is the peer's TLS identity: the x509 client
 * certificate's distinguished name, or the PSK username.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef AUTHZ_AUTHZ_H
#define AUTHZ_AUTHZ_H

#include "qapi/error.h"

/* Register authz-simple and authz-list (start-up). */
void authz_register_types(void);

/*
 * Whether authorization object @authz_id allows @identity.  False with
 * *errp set naming the object when it refuses, or does not exist.
 */
bool authz_is_allowed(const char *authz_id, const char *identity,
                      Error **errp);

#endif
