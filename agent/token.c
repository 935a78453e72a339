/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * token.c - the agent's PKCS#11 tokens, through libp11 (the only file that
 * includes libp11.h). Keys are listed from their certificates until the
 * first login, found at login and named by the SHA-256 of their SPKI;
 * private-key operations run on libp11's per-slot session pool
 * (up to 16 sessions, each C_Sign outside any lock) and may run on many
 * threads at once. Operations hold the context's read lock and
 * login/logout/recovery its write lock, so a key handle never goes away
 * under a running operation. A token whose operation fails as removed is
 * marked down; operations wait a bounded time for the recovery thread to
 * bring it back (token_recover). CK_RV becomes P11AGENT_ERR_* here and
 * nowhere else. URIs and p11-kit module names go to the p11-kit helper
 * (kit.h): one helper per scan or key enumeration, under the write lock.
 */

/*
 * libp11 0.4.12 hands out legacy RSA / EC_KEY objects with its own
 * RSA_METHOD and EC_KEY_METHOD; the low-level calls that reach them
 * (RSA_sign, RSA_private_encrypt, ECDSA_do_sign, ECDH_compute_key) are
 * deprecated in OpenSSL 3 but are the only way in. Confined to this file.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>

#include "kit.h"
#include "log.h"
#include "pin.h"
#include "proto.h"
#include "secmem.h"
#include "token.h"
#include "wire.h"

#define TOKEN_POOL_MAX		16	/* sessions, libp11's pool per slot */
#define TOKEN_DOWN_WAIT_MS	2000	/* ms, wait for a token to return */
#define TOKEN_LOCK_WAIT_MS	30000	/* ms, wait behind a login */
#define TOKEN_LIST_WAIT_MS	1000	/* ms, key and token lists (loop) */

#ifndef return_val_if_fail
#define return_val_if_fail(expr, val) do {	\
	if (!(expr))				\
		return (val);			\
} while (0)
#endif

struct tok_module {
	char *arg;			/* as given: a path or a p11-kit name */
	char *path;			/* the file libp11 loaded */
	char *kitname;			/* p11-kit's name for it, or NULL */
	PKCS11_CTX *ctx;
	int loaded;			/* PKCS11_CTX_load() succeeded */
	PKCS11_SLOT *slots;
	unsigned int nslots;
	/*
	 * The module's own function list, from the very copy libp11 loaded
	 * (dlopen RTLD_NOLOAD), or NULL when that is not the instance libp11
	 * initialised (p11-kit's client and proxy modules make one per
	 * C_GetFunctionList call). Used for token info, our login session and
	 * attribute reads: see token_login_one() for why not PKCS11_login().
	 */
	void *dl;
	CK_FUNCTION_LIST *fn;
	CK_INFO info;
	/*
	 * Without direct access (fn NULL: p11-kit's client or proxy), one
	 * operation at a time. p11-kit-client 0.24's RPC, called from two
	 * threads when its server dies mid-call, leaves both waiting on a
	 * condition variable for ever (seen in token-recovery); one caller
	 * at a time gets the error instead.
	 */
	pthread_mutex_t call_mtx;
};

struct tok_token {
	struct tok_module *mod;
	CK_SLOT_ID slotid;
	PKCS11_SLOT *slot;		/* in mod->slots; NULL when not present */
	CK_TOKEN_INFO ti;		/* as found; identity for re-finding it */
	char *label, *serial, *manufacturer, *model;
	CK_SESSION_HANDLE session;	/* ours; carries the login */
	int has_session;
	int did_login;			/* we called C_Login on it */
	int logged_in;			/* usable: logged in or no login needed */
	uint32_t nkeys;
	int down;			/* gone; under st_mtx */
	CK_FLAGS fail_flags;		/* token flags after a failed C_Login */
};

struct tok_key {
	struct token_keyinfo info;
	struct tok_token *tok;
	size_t size;			/* bytes: RSA modulus, EC field */
	RSA *pub_rsa;			/* software copies of the public key */
	EC_KEY *pub_ec;
	RSA *rsa;			/* libp11's, handle-backed; NULL when locked */
	EC_KEY *ec;
	int always_auth;		/* CKA_ALWAYS_AUTHENTICATE */
};

struct token_ctx {
	pthread_rwlock_t lock;
	struct tok_module *mods;
	size_t nmods;
	struct tok_token *toks;
	size_t ntoks;
	struct tok_key *keys;
	size_t nkeys;
	char **uris;			/* --token, checked by p11-kit */
	size_t nuris;
	int uri_names_module;		/* a URI has a module-name */
	struct kit *kit;		/* the helper, while a scan needs it */
	UI_METHOD *ui;
	int logged_in;
	/*
	 * Shared with the workers and the recovery thread, under st_mtx
	 * (taken after lock, never before it): the tokens' down flags, a
	 * login asked for on demand and the result of the last one. st_gen
	 * counts changes and st_cv is broadcast on each.
	 */
	pthread_mutex_t st_mtx;
	pthread_cond_t st_cv;
	unsigned long st_gen;
	size_t ndown;
	int login_pending;
	long login_until;		/* monotonic ms */
	int login_err;
	CK_FLAGS fail_flags;		/* of the last failed login */
	void (*event_fn)(void *);
	void *event_arg;
	int quiet;			/* recovery polling: fewer log lines */
	/*
	 * logged_in again, under st_mtx only: token_logged_in() is asked on
	 * the event loop and must not wait behind a recovery attempt.
	 */
	int st_logged_in;
};

/* CK_RV names for the log. */
#define CKR_NAME(x)	{ x, #x }
static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	CKR_NAME(CKR_OK), CKR_NAME(CKR_CANCEL), CKR_NAME(CKR_HOST_MEMORY),
	CKR_NAME(CKR_SLOT_ID_INVALID), CKR_NAME(CKR_GENERAL_ERROR),
	CKR_NAME(CKR_FUNCTION_FAILED), CKR_NAME(CKR_ARGUMENTS_BAD),
	CKR_NAME(CKR_ATTRIBUTE_SENSITIVE), CKR_NAME(CKR_ATTRIBUTE_TYPE_INVALID),
	CKR_NAME(CKR_DATA_INVALID), CKR_NAME(CKR_DATA_LEN_RANGE),
	CKR_NAME(CKR_DEVICE_ERROR), CKR_NAME(CKR_DEVICE_MEMORY),
	CKR_NAME(CKR_DEVICE_REMOVED), CKR_NAME(CKR_ENCRYPTED_DATA_INVALID),
	CKR_NAME(CKR_ENCRYPTED_DATA_LEN_RANGE), CKR_NAME(CKR_FUNCTION_CANCELED),
	CKR_NAME(CKR_FUNCTION_NOT_SUPPORTED), CKR_NAME(CKR_KEY_HANDLE_INVALID),
	CKR_NAME(CKR_KEY_SIZE_RANGE), CKR_NAME(CKR_KEY_TYPE_INCONSISTENT),
	CKR_NAME(CKR_KEY_FUNCTION_NOT_PERMITTED),
	CKR_NAME(CKR_MECHANISM_INVALID), CKR_NAME(CKR_MECHANISM_PARAM_INVALID),
	CKR_NAME(CKR_OBJECT_HANDLE_INVALID), CKR_NAME(CKR_OPERATION_ACTIVE),
	CKR_NAME(CKR_OPERATION_NOT_INITIALIZED), CKR_NAME(CKR_PIN_INCORRECT),
	CKR_NAME(CKR_PIN_INVALID), CKR_NAME(CKR_PIN_LEN_RANGE),
	CKR_NAME(CKR_PIN_EXPIRED), CKR_NAME(CKR_PIN_LOCKED),
	CKR_NAME(CKR_SESSION_CLOSED), CKR_NAME(CKR_SESSION_COUNT),
	CKR_NAME(CKR_SESSION_HANDLE_INVALID), CKR_NAME(CKR_SESSION_READ_ONLY),
	CKR_NAME(CKR_SIGNATURE_INVALID), CKR_NAME(CKR_TOKEN_NOT_PRESENT),
	CKR_NAME(CKR_TOKEN_NOT_RECOGNIZED), CKR_NAME(CKR_USER_ALREADY_LOGGED_IN),
	CKR_NAME(CKR_USER_NOT_LOGGED_IN),
	CKR_NAME(CKR_USER_PIN_NOT_INITIALIZED), CKR_NAME(CKR_USER_TYPE_INVALID),
	CKR_NAME(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	CKR_NAME(CKR_USER_TOO_MANY_TYPES), CKR_NAME(CKR_BUFFER_TOO_SMALL),
	CKR_NAME(CKR_CRYPTOKI_NOT_INITIALIZED),
	CKR_NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	CKR_NAME(CKR_FUNCTION_REJECTED),
};
#undef CKR_NAME

static const char *
ckr_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	return rv >= CKR_VENDOR_DEFINED ? "CKR_VENDOR_DEFINED" : "CKR_(unknown)";
}

/* The one CK_RV -> P11AGENT_ERR_* table. */
static int
ckr_to_err(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	/* A stale handle: the token was removed or reset since login. */
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return P11AGENT_ERR_TOKEN_NOT_PRESENT;
	case CKR_USER_NOT_LOGGED_IN:
		return P11AGENT_ERR_NOT_LOGGED_IN;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
		return P11AGENT_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		return P11AGENT_ERR_PIN_LOCKED;
	case CKR_PIN_LEN_RANGE:
		return P11AGENT_ERR_PIN_LEN_RANGE;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	case CKR_HOST_MEMORY:
		return P11AGENT_ERR_NO_MEMORY;
	default:
		return P11AGENT_ERR_TOKEN_ERROR;
	}
}

/*
 * libp11 reports a failed PKCS#11 call as an OpenSSL error whose library
 * is ERR_get_CKR_code() and whose reason is the CK_RV. Returns the first
 * such CK_RV (CKR_GENERAL_ERROR if there is none) and drains the rest of
 * the thread's error queue into one debug line. *emptyp, if not NULL, is
 * set to 1 when the queue held nothing at all: libp11 0.4.12 fails that
 * way when its session pool cannot open a session.
 */
static CK_RV
ckr_from_errors_ex(int *emptyp)
{
	char line[512], one[160];
	unsigned long e;
	CK_RV rv = CKR_GENERAL_ERROR;
	int found = 0, any = 0, ckrlib = ERR_get_CKR_code();
	size_t used = 0;

	line[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		any = 1;
		if (!found && !ERR_SYSTEM_ERROR(e) &&
		    ERR_GET_LIB(e) == ckrlib) {
			rv = ERR_GET_REASON(e);
			found = 1;
			continue;
		}
		ERR_error_string_n(e, one, sizeof(one));
		if (used < sizeof(line) - 1) {
			int n = snprintf(line + used, sizeof(line) - used,
			    "%s%s", used ? "; " : "", one);
			if (n > 0)
				used += (size_t)n;
		}
	}
	if (line[0] != '\0')
		log_debug_f("libcrypto: %s", line);
	if (emptyp != NULL)
		*emptyp = !any;
	return rv;
}

static CK_RV
ckr_from_errors(void)
{
	return ckr_from_errors_ex(NULL);
}

static long
mono_ms(void)
{
	return (long)wire_now_ms();
}

static void
abs_ms(struct timespec *ts, long ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

static int
rdlock_until(struct token_ctx *t, long until_ms)
{
	struct timespec ts;

	abs_ms(&ts, until_ms);
	return pthread_rwlock_clockrdlock(&t->lock, CLOCK_MONOTONIC, &ts);
}

/* Called with st_mtx held: wake everyone waiting for a state change. */
static void
st_changed(struct token_ctx *t)
{
	t->st_gen++;
	pthread_cond_broadcast(&t->st_cv);
}

/* Called with st_mtx held. */
static void
set_down(struct token_ctx *t, struct tok_token *tk, int down)
{
	if (tk->down == down)
		return;
	tk->down = down;
	if (down)
		t->ndown++;
	else
		t->ndown--;
	st_changed(t);
}

/*
 * An operation on tk failed as "not present" (removed, connection lost,
 * stale handle). Called with the read lock held, so the failure belongs
 * to the current login and no recovery ran in between. Wakes the
 * recovery thread.
 */
static void
mark_down(struct token_ctx *t, struct tok_token *tk)
{
	void (*fn)(void *);
	void *arg;
	int was;

	pthread_mutex_lock(&t->st_mtx);
	was = tk->down;
	set_down(t, tk, 1);
	fn = t->event_fn;
	arg = t->event_arg;
	pthread_mutex_unlock(&t->st_mtx);
	if (!was)
		log_err_f("token \"%s\": gone; serving it again once it is "
		    "back", tk->label);
	if (fn != NULL)
		fn(arg);
}

/* Strips PKCS#11 blank padding into a NUL-terminated copy. */
static char *
dup_padded(const unsigned char *s, size_t len)
{
	char *r;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
		len--;
	if ((r = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

/* The reverse: a C string into a blank-padded PKCS#11 field. */
static void
pad_copy(unsigned char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	memset(dst, ' ', len);
	memcpy(dst, src, n < len ? n : len);
}

/*
 * Slot and token info of a slot libp11 found: from the module when we
 * can reach it, else rebuilt from libp11's copies (which libp11 refreshes
 * on every slot enumeration). Returns 0 or -1 (no token).
 */
static int
slot_infos(const struct tok_module *m, PKCS11_SLOT *slot, CK_SLOT_ID sid,
    CK_SLOT_INFO *si, CK_TOKEN_INFO *ti)
{
	const PKCS11_TOKEN *tk = slot->token;

	if (tk == NULL)
		return -1;
	if (m->fn != NULL)
		return m->fn->C_GetSlotInfo(sid, si) == CKR_OK &&
		    m->fn->C_GetTokenInfo(sid, ti) == CKR_OK ? 0 : -1;
	memset(si, 0, sizeof(*si));
	pad_copy(si->slotDescription, sizeof(si->slotDescription),
	    slot->description);
	pad_copy(si->manufacturerID, sizeof(si->manufacturerID),
	    slot->manufacturer);
	si->flags = CKF_TOKEN_PRESENT |
	    (slot->removable ? CKF_REMOVABLE_DEVICE : 0);
	memset(ti, 0, sizeof(*ti));
	pad_copy(ti->label, sizeof(ti->label), tk->label);
	pad_copy(ti->manufacturerID, sizeof(ti->manufacturerID),
	    tk->manufacturer);
	pad_copy(ti->model, sizeof(ti->model), tk->model);
	pad_copy(ti->serialNumber, sizeof(ti->serialNumber), tk->serialnr);
	ti->flags = (tk->initialized ? CKF_TOKEN_INITIALIZED : 0) |
	    (tk->loginRequired ? CKF_LOGIN_REQUIRED : 0) |
	    (tk->secureLogin ? CKF_PROTECTED_AUTHENTICATION_PATH : 0) |
	    (tk->userPinSet ? CKF_USER_PIN_INITIALIZED : 0) |
	    (tk->readOnly ? CKF_WRITE_PROTECTED : 0) |
	    (tk->hasRng ? CKF_RNG : 0) |
	    (tk->userPinCountLow ? CKF_USER_PIN_COUNT_LOW : 0) |
	    (tk->userPinFinalTry ? CKF_USER_PIN_FINAL_TRY : 0) |
	    (tk->userPinLocked ? CKF_USER_PIN_LOCKED : 0) |
	    (tk->userPinToBeChanged ? CKF_USER_PIN_TO_BE_CHANGED : 0);
	/* Unknown: no length check before C_Login. */
	ti->ulMinPinLen = 0;
	ti->ulMaxPinLen = CK_UNAVAILABLE_INFORMATION;
	return 0;
}

static int
same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
	return memcmp(a->serialNumber, b->serialNumber,
	    sizeof(a->serialNumber)) == 0 &&
	    memcmp(a->label, b->label, sizeof(a->label)) == 0 &&
	    memcmp(a->manufacturerID, b->manufacturerID,
	    sizeof(a->manufacturerID)) == 0 &&
	    memcmp(a->model, b->model, sizeof(a->model)) == 0;
}

/*
 * libp11 asks its UI for a PIN when a key has CKA_ALWAYS_AUTHENTICATE:
 * right after C_SignInit/C_DecryptInit, on the session of the operation,
 * it calls C_Login(CKU_CONTEXT_SPECIFIC) with what the UI returns. Our
 * reader answers with the cached PIN and never prompts (OpenSSL's default
 * UI would prompt on the agent's terminal from a worker thread). libp11
 * copies the PIN to a stack buffer and cleanses it after the C_Login.
 */
static int
ui_cached_pin(UI *ui, UI_STRING *uis)
{
	char *pin = NULL;
	int ok;

	switch (UI_get_string_type(uis)) {
	case UIT_PROMPT:
	case UIT_VERIFY:
		if (pin_cache_get(&pin) != 0) {
			log_info_f("a key wants its pin for this use, and no "
			    "pin is cached");
			return 0;
		}
		ok = UI_set_result(ui, uis, pin) == 0;
		secmem_free(pin);	/* wipes */
		return ok;
	default:
		return 1;
	}
}

/* Module loading and token selection. */

/* The helper for this scan or enumeration, started on first need. */
static int
kit_need(struct token_ctx *t)
{
	if (t->kit != NULL)
		return 0;
	return kit_open(&t->kit);
}

/* At the end of a scan or enumeration: no helper stays running. */
static void
kit_done(struct token_ctx *t)
{
	kit_close(t->kit);
	t->kit = NULL;
}

/*
 * A module argument without '/' is a module registered with p11-kit (its
 * config name, e.g. "softhsm2") or a file name in p11-kit's module
 * directory. For a path, the p11-kit name is looked up only when a URI
 * asks for module-name; otherwise no helper is needed.
 */
static int
resolve_module(struct token_ctx *t, struct tok_module *m)
{
	int r;

	if (strchr(m->arg, '/') != NULL && !t->uri_names_module) {
		if ((m->path = strdup(m->arg)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		return 0;
	}
	if ((r = kit_need(t)) != 0)
		return r;
	r = kit_module(t->kit, m->arg, &m->path, &m->kitname);
	if (r == P11AGENT_ERR_TOKEN_NOT_FOUND)
		log_err_f("module \"%s\": not a path nor a p11-kit module",
		    m->arg);
	else if (r == P11AGENT_ERR_MAX_SIZE)
		log_err_f("module \"%.64s...\": name too long", m->arg);
	return r;
}

static int
module_slots(struct tok_module *m)
{
	CK_RV rv;

	if (PKCS11_enumerate_slots(m->ctx, &m->slots, &m->nslots) != 0) {
		rv = ckr_from_errors();
		log_err_f("module %s: slot list: %s", m->path, ckr_name(rv));
		m->slots = NULL;
		m->nslots = 0;
		return ckr_to_err(rv);
	}
	return 0;
}

static int
module_load(struct token_ctx *t, struct tok_module *m)
{
	CK_C_GetFunctionList getfl;
	CK_RV rv;

	if ((m->ctx = PKCS11_CTX_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (PKCS11_CTX_load(m->ctx, m->path) != 0) {
		rv = ckr_from_errors();
		log_err_f("module %s: cannot load: %s", m->path, ckr_name(rv));
		PKCS11_CTX_free(m->ctx);
		m->ctx = NULL;
		return P11AGENT_ERR_TOKEN_ERROR;
	}
	m->loaded = 1;
	PKCS11_set_ui_method(m->ctx, t->ui, NULL);
	/*
	 * RTLD_NOLOAD: the copy libp11 just loaded and initialised, no
	 * other. RTLD_NODELETE: it stays mapped when recovery reinitialises
	 * it (libp11 dlclose()s it then), so no thread or handler a module
	 * left behind runs into unmapped code.
	 */
	if ((m->dl = dlopen(m->path, RTLD_NOW | RTLD_NOLOAD |
	    RTLD_NODELETE)) != NULL &&
	    (getfl = (CK_C_GetFunctionList)dlsym(m->dl,
	    "C_GetFunctionList")) != NULL &&
	    getfl(&m->fn) == CKR_OK && m->fn != NULL &&
	    (rv = m->fn->C_GetInfo(&m->info)) == CKR_OK)
		return module_slots(m);
	/* Not initialised: a fresh instance, not libp11's. */
	log_info_f("module %s: no direct access, using libp11 for login",
	    m->path);
	m->fn = NULL;
	if (m->dl != NULL)
		dlclose(m->dl);
	m->dl = NULL;
	memset(&m->info, 0, sizeof(m->info));
	pad_copy(m->info.manufacturerID, sizeof(m->info.manufacturerID),
	    m->ctx->manufacturer);
	pad_copy(m->info.libraryDescription,
	    sizeof(m->info.libraryDescription), m->ctx->description);
	return module_slots(m);
}

static int
select_tokens(struct token_ctx *t, struct tok_module *m)
{
	struct tok_token *nt, *k;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID sid;
	unsigned int i;
	size_t u;
	int match, r;

	if (t->nuris > 0 && (r = kit_need(t)) != 0)
		return r;
	for (i = 0; i < m->nslots; i++) {
		if (m->slots[i].token == NULL)
			continue;
		sid = PKCS11_get_slotid_from_slot(&m->slots[i]);
		if (slot_infos(m, &m->slots[i], sid, &si, &ti) != 0 ||
		    (ti.flags & CKF_TOKEN_INITIALIZED) == 0)
			continue;
		match = t->nuris == 0;
		for (u = 0; u < t->nuris && !match; u++)
			if ((r = kit_uri_match(t->kit, t->uris[u], m->kitname,
			    m->path, sid, &m->info, &si, &ti, &match)) != 0)
				return r;
		if (!match)
			continue;
		nt = reallocarray(t->toks, t->ntoks + 1, sizeof(*nt));
		if (nt == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		t->toks = nt;
		k = &t->toks[t->ntoks];
		memset(k, 0, sizeof(*k));
		k->mod = m;
		k->slot = &m->slots[i];
		k->slotid = sid;
		k->ti = ti;
		t->ntoks++;
		if ((k->label = dup_padded(ti.label, sizeof(ti.label))) == NULL ||
		    (k->serial = dup_padded(ti.serialNumber,
		    sizeof(ti.serialNumber))) == NULL ||
		    (k->manufacturer = dup_padded(ti.manufacturerID,
		    sizeof(ti.manufacturerID))) == NULL ||
		    (k->model = dup_padded(ti.model, sizeof(ti.model))) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		log_info_f("token \"%s\" (serial %s) in slot %lu of %s",
		    k->label, k->serial, (unsigned long)sid, m->path);
	}
	return 0;
}

static int scan_keys(struct token_ctx *, struct tok_token *);
static void recount_keys(struct token_ctx *);

int
token_open(struct token_ctx **tp, const char *const *modules,
    size_t nmodules, const char *const *uris, size_t nuris)
{
	struct token_ctx *t = NULL;
	struct tok_module *m;
	char msg[256];
	size_t i, j;
	int r = P11AGENT_ERR_INTERNAL, rc, names;

	return_val_if_fail(tp != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*tp = NULL;
	return_val_if_fail(modules != NULL && nmodules > 0,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	return_val_if_fail(uris != NULL || nuris == 0,
	    P11AGENT_ERR_INVALID_ARGUMENT);

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	{
		pthread_rwlockattr_t ra;

		/* Writer first: a lock request must not wait out a busy pool. */
		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra,
		    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		rc = pthread_rwlock_init(&t->lock, &ra);
		pthread_rwlockattr_destroy(&ra);
		if (rc != 0) {
			log_err_f("cannot create a lock: %s", strerror(rc));
			free(t);
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
	}
	{
		pthread_condattr_t ca;

		/* Deadlines are monotonic: a clock step must not stretch them. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		rc = pthread_cond_init(&t->st_cv, &ca);
		pthread_condattr_destroy(&ca);
		if (rc != 0 || pthread_mutex_init(&t->st_mtx, NULL) != 0) {
			log_err_f("cannot create a lock");
			pthread_rwlock_destroy(&t->lock);
			free(t);
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
	}
	/*
	 * libp11 allocates its error library code and builds its RSA and EC
	 * methods lazily and without a lock; do it here, on one thread.
	 */
	(void)ERR_get_CKR_code();
	(void)PKCS11_get_rsa_method();
	(void)PKCS11_get_ec_key_method();
	if ((t->ui = UI_create_method("p11agent: cached pin")) == NULL ||
	    UI_method_set_reader(t->ui, ui_cached_pin) != 0) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}

	if (nuris > 0 && (t->uris = calloc(nuris, sizeof(*t->uris))) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < nuris; i++) {
		if ((t->uris[i] = strdup(uris[i])) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		t->nuris++;
		if ((r = kit_need(t)) != 0)
			goto out;
		if ((r = kit_uri_check(t->kit, uris[i], &names, msg,
		    sizeof(msg))) == P11AGENT_ERR_INVALID_ARGUMENT)
			log_err_f("token uri \"%s\": %s", uris[i], msg);
		if (r != 0)
			goto out;
		t->uri_names_module |= names;
	}

	if ((t->mods = calloc(nmodules, sizeof(*t->mods))) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < nmodules; i++) {
		m = &t->mods[t->nmods];
		pthread_mutex_init(&m->call_mtx, NULL);
		if ((m->arg = strdup(modules[i])) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		t->nmods++;
		if ((r = resolve_module(t, m)) != 0)
			goto out;
		/* Loading one module twice would C_Finalize it under us. */
		for (j = 0; j + 1 < t->nmods; j++)
			if (strcmp(t->mods[j].path, m->path) == 0)
				break;
		if (j + 1 < t->nmods) {
			free(m->arg);
			free(m->path);
			free(m->kitname);
			memset(m, 0, sizeof(*m));
			t->nmods--;
			continue;
		}
		if ((r = module_load(t, m)) != 0 ||
		    (r = select_tokens(t, m)) != 0)
			goto out;
	}
	if (t->ntoks == 0) {
		log_err_f("no token matches");
		r = P11AGENT_ERR_TOKEN_NOT_FOUND;
		goto out;
	}
	/* Listed before the first login, so clients can name their key. */
	for (i = 0; i < t->ntoks; i++)
		if ((r = scan_keys(t, &t->toks[i])) != 0)
			goto out;
	recount_keys(t);
	kit_done(t);
	*tp = t;
	t = NULL;
	r = 0;
 out:
	token_close(t);
	return r;
}

/* Keys. */

static void
keyinfo_clear(struct token_keyinfo *ki)
{
	free(ki->label);
	free(ki->token_label);
	free(ki->token_serial);
	free(ki->curve);
	free(ki->spki);
	free(ki->cert);
	free(ki->ckaid);
	free(ki->uri);
	memset(ki, 0, sizeof(*ki));
}

static int
keyinfo_copy(struct token_keyinfo *d, const struct token_keyinfo *s)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->id, s->id, sizeof(d->id));
	d->type = s->type;
	d->bits = s->bits;
	d->ops = s->ops;
	d->spki_len = s->spki_len;
	d->cert_len = s->cert_len;
	d->ckaid_len = s->ckaid_len;
	if ((d->label = strdup(s->label)) == NULL ||
	    (d->token_label = strdup(s->token_label)) == NULL ||
	    (d->token_serial = strdup(s->token_serial)) == NULL ||
	    (d->curve = strdup(s->curve)) == NULL ||
	    (d->uri = strdup(s->uri)) == NULL ||
	    (d->spki = malloc(s->spki_len)) == NULL ||
	    (s->cert != NULL && (d->cert = malloc(s->cert_len)) == NULL) ||
	    (d->ckaid = malloc(s->ckaid_len ? s->ckaid_len : 1)) == NULL) {
		keyinfo_clear(d);
		return P11AGENT_ERR_NO_MEMORY;
	}
	memcpy(d->spki, s->spki, s->spki_len);
	if (s->cert != NULL)
		memcpy(d->cert, s->cert, s->cert_len);
	if (s->ckaid_len)
		memcpy(d->ckaid, s->ckaid, s->ckaid_len);
	return 0;
}

static void
key_drop_handles(struct tok_key *k)
{
	RSA_free(k->rsa);
	EC_KEY_free(k->ec);
	k->rsa = NULL;
	k->ec = NULL;
}

static void
key_free(struct tok_key *k)
{
	key_drop_handles(k);
	RSA_free(k->pub_rsa);
	EC_KEY_free(k->pub_ec);
	keyinfo_clear(&k->info);
}

/*
 * DER SubjectPublicKeyInfo of a private key: from libp11's key itself (it
 * reads CKA_MODULUS / CKA_EC_POINT from the private object or its public
 * twin), else the public key object, else the certificate.
 */
static int
key_spki(EVP_PKEY *priv, PKCS11_KEY *pk, uint8_t **derp, size_t *lenp)
{
	PKCS11_CERT *c;
	EVP_PKEY *p;
	unsigned char *der = NULL;
	int n;

	*derp = NULL;
	*lenp = 0;
	if ((n = i2d_PUBKEY(priv, &der)) <= 0) {
		ERR_clear_error();
		if ((p = PKCS11_get_public_key(pk)) != NULL) {
			n = i2d_PUBKEY(p, &der);
			EVP_PKEY_free(p);
		}
	}
	if (n <= 0) {
		ERR_clear_error();
		if ((c = PKCS11_find_certificate(pk)) != NULL &&
		    c->x509 != NULL)
			n = i2d_PUBKEY(X509_get0_pubkey(c->x509), &der);
	}
	if (n <= 0) {
		ERR_clear_error();
		return P11AGENT_ERR_KEY_TYPE;
	}
	/* Copied so that every buffer here is released with free(). */
	if ((*derp = malloc((size_t)n)) == NULL) {
		OPENSSL_free(der);
		return P11AGENT_ERR_NO_MEMORY;
	}
	memcpy(*derp, der, (size_t)n);
	*lenp = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

/*
 * Operation bits from the key type, narrowed by the private object's
 * CKA_SIGN / CKA_DECRYPT / CKA_DERIVE (libp11 0.4.12 does not expose
 * them, so they are read on our own session). A key that wants a PIN per
 * use (CKA_ALWAYS_AUTHENTICATE, *aap set) signs and decrypts with a
 * context-specific login from the PIN cache (see ui_cached_pin); libp11
 * 0.4.12 has no such login for C_DeriveKey, so it cannot derive.
 */
static uint32_t
key_ops(struct tok_token *tk, uint8_t type, const PKCS11_KEY *pk, int *aap)
{
	CK_FUNCTION_LIST *fn = tk->mod->fn;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE find[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, pk->id, pk->id_len },
	};
	CK_BBOOL sign = CK_TRUE, dec = CK_TRUE, der = CK_TRUE, aa = CK_FALSE;
	CK_ATTRIBUTE get[4] = {
		{ CKA_SIGN, &sign, sizeof(sign) },
		{ CKA_DECRYPT, &dec, sizeof(dec) },
		{ CKA_DERIVE, &der, sizeof(der) },
		{ CKA_ALWAYS_AUTHENTICATE, &aa, sizeof(aa) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG nh = 0;
	CK_RV rv;
	uint32_t ops;
	size_t i;

	*aap = 0;
	ops = type == P11AGENT_KEY_RSA ?
	    P11AGENT_OP_SIGN | P11AGENT_OP_DECRYPT :
	    P11AGENT_OP_SIGN | P11AGENT_OP_DERIVE;
	if (!tk->has_session)
		return ops;
	if ((rv = fn->C_FindObjectsInit(tk->session, find, 2)) != CKR_OK)
		return ops;
	rv = fn->C_FindObjects(tk->session, h, 2, &nh);
	fn->C_FindObjectsFinal(tk->session);
	if (rv != CKR_OK || nh != 1)
		return ops;
	rv = fn->C_GetAttributeValue(tk->session, h[0], get, 4);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE)
		return ops;
	/* An attribute the module does not know keeps its default. */
	for (i = 0; i < 4; i++)
		if (get[i].ulValueLen != sizeof(CK_BBOOL))
			*(CK_BBOOL *)get[i].pValue =
			    get[i].type == CKA_ALWAYS_AUTHENTICATE ?
			    CK_FALSE : CK_TRUE;
	if (!sign)
		ops &= ~P11AGENT_OP_SIGN;
	if (!dec)
		ops &= ~P11AGENT_OP_DECRYPT;
	if (!der)
		ops &= ~P11AGENT_OP_DERIVE;
	if (aa) {
		*aap = 1;
		if (ops & P11AGENT_OP_DERIVE)
			log_info_f("key \"%s\": needs a pin for every use; "
			    "offered for signing only", pk->label ? pk->label :
			    "");
		ops &= ~P11AGENT_OP_DERIVE;
	}
	return ops;
}

static const char *
curve_name(const EC_GROUP *g)
{
	const char *s;
	int nid = EC_GROUP_get_curve_name(g);

	if (nid == NID_undef)
		return NULL;
	if ((s = EC_curve_nid2nist(nid)) != NULL)
		return s;
	return OBJ_nid2sn(nid);
}

/*
 * libp11 builds an EC private key's public half from the public key
 * object or certificate with the same CKA_ID, so a token with colliding
 * CKA_IDs could pair a private key with another key's public key, and
 * the key id (the hash of that public key) would name the wrong key.
 * One test signature, verified in software, rules that out at each
 * login. RSA private objects carry their own modulus, and every RSA
 * signature is verified before it leaves (rsa_check_sig). Returns 0, or
 * P11AGENT_ERR_KEY_TYPE for a mismatched pair.
 */
static int
ec_pair_check(const struct tok_key *k, const char *label)
{
	static const char msg[] = "p11agent key pair check";
	uint8_t dg[SHA256_DIGEST_LENGTH];
	ECDSA_SIG *s;
	int ok;

	/*
	 * XXX keys that cannot sign, and keys that want a login per use
	 * (a PIN pad would ask at every login), are not checked.
	 */
	if (!(k->info.ops & P11AGENT_OP_SIGN) || k->always_auth ||
	    k->ec == NULL)
		return 0;
	SHA256((const uint8_t *)msg, sizeof(msg) - 1, dg);
	ERR_clear_error();
	if ((s = ECDSA_do_sign(dg, sizeof(dg), k->ec)) == NULL) {
		log_info_f("key \"%s\": cannot check the key pair: %s", label,
		    ckr_name(ckr_from_errors()));
		return 0;
	}
	ok = ECDSA_do_verify(dg, sizeof(dg), s, k->pub_ec) == 1;
	ECDSA_SIG_free(s);
	ERR_clear_error();
	if (!ok) {
		log_err_f("key \"%s\": private key does not match the public "
		    "key of its CKA_ID; skipped", label);
		return P11AGENT_ERR_KEY_TYPE;
	}
	return 0;
}

/*
 * The public half of k from k->info.spki (of type kt): pub_rsa or
 * pub_ec, type, bits, size and the curve's name (*cnp). Returns 0, or 1
 * when the agent cannot use the key (logged: skip it).
 */
static int
key_pub(struct tok_key *k, int kt, const char *label, const char **cnp)
{
	const unsigned char *p = k->info.spki;

	*cnp = "";
	if (kt == EVP_PKEY_RSA) {
		if ((k->pub_rsa = d2i_RSA_PUBKEY(NULL, &p,
		    (long)k->info.spki_len)) == NULL)
			goto bad;
		k->info.type = P11AGENT_KEY_RSA;
		k->info.bits = (uint32_t)RSA_bits(k->pub_rsa);
		k->size = (size_t)RSA_size(k->pub_rsa);
		if (k->size > P11AGENT_MAX_RSA_BYTES || k->info.bits < 1024) {
			log_info_f("key \"%s\": %u-bit rsa, skipped", label,
			    k->info.bits);
			return 1;
		}
		return 0;
	}
	if ((k->pub_ec = d2i_EC_PUBKEY(NULL, &p,
	    (long)k->info.spki_len)) == NULL)
		goto bad;
	k->info.type = P11AGENT_KEY_EC;
	k->info.bits = (uint32_t)EC_GROUP_get_degree(
	    EC_KEY_get0_group(k->pub_ec));
	k->size = (k->info.bits + 7) / 8;
	if ((*cnp = curve_name(EC_KEY_get0_group(k->pub_ec))) == NULL ||
	    1 + 2 * k->size > P11AGENT_MAX_EC_POINT) {
		*cnp = "";
		log_info_f("key \"%s\": unnamed or large curve, skipped",
		    label);
		return 1;
	}
	return 0;
 bad:
	log_info_f("key \"%s\": unusable public key, skipped", label);
	ERR_clear_error();
	return 1;
}

/* 1 when t already lists the key with k's id. */
static int
key_listed(const struct token_ctx *t, const struct tok_key *k)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		if (memcmp(t->keys[i].info.id, k->info.id,
		    sizeof(k->info.id)) == 0)
			return 1;
	return 0;
}

/* Adds one private key of tk to t; a key that cannot be used is skipped. */
/*
 * Names k after its token, label, curve and CKA_ID (its URI from the
 * p11-kit helper) and appends it to t->keys (k is emptied: handed over).
 * On failure, and for a key skipped for its overlong label or CKA_ID
 * (0), k keeps what it had; the caller frees it.
 */
static int
key_append(struct token_ctx *t, struct tok_token *tk, struct tok_key *k,
    const char *label, const char *cn, const unsigned char *id,
    size_t id_len)
{
	struct tok_key *nk;
	int r;

	if (strlen(label) > P11AGENT_KIT_FIELD_MAX ||
	    id_len > P11AGENT_KIT_FIELD_MAX) {
		log_info_f("key \"%.64s\": label or CKA_ID over %d bytes, "
		    "skipped", label, P11AGENT_KIT_FIELD_MAX);
		return 0;
	}
	if ((k->info.label = strdup(label)) == NULL ||
	    (k->info.token_label = strdup(tk->label)) == NULL ||
	    (k->info.token_serial = strdup(tk->serial)) == NULL ||
	    (k->info.curve = strdup(cn)) == NULL ||
	    (k->info.ckaid = malloc(id_len ? id_len : 1)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if ((r = kit_need(t)) != 0 ||
	    (r = kit_key_uri(t->kit, &tk->ti, label, id, id_len,
	    &k->info.uri)) != 0)
		return r;
	if (id_len > 0)
		memcpy(k->info.ckaid, id, id_len);
	k->info.ckaid_len = id_len;
	if ((nk = reallocarray(t->keys, t->nkeys + 1, sizeof(*nk))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	t->keys = nk;
	t->keys[t->nkeys++] = *k;
	memset(k, 0, sizeof(*k));		/* handed over */
	return 0;
}

static int
key_add(struct token_ctx *t, struct tok_token *tk, PKCS11_KEY *pk)
{
	struct tok_key k;
	EVP_PKEY *priv = NULL;
	PKCS11_CERT *c;
	const char *cn = "";
	unsigned char *der = NULL;
	const char *label = pk->label != NULL ? pk->label : "";
	size_t i;
	int kt, n, r = 0;

	memset(&k, 0, sizeof(k));
	k.tok = tk;
	kt = PKCS11_get_key_type(pk);
	if (kt != EVP_PKEY_RSA && kt != EVP_PKEY_EC) {
		log_info_f("key \"%s\": unsupported key type, skipped", label);
		goto out;
	}
	if ((priv = PKCS11_get_private_key(pk)) == NULL) {
		log_info_f("key \"%s\": %s, skipped", label,
		    ckr_name(ckr_from_errors()));
		goto out;
	}
	if (key_spki(priv, pk, &k.info.spki, &k.info.spki_len) != 0) {
		log_info_f("key \"%s\": no public key found, skipped", label);
		goto out;
	}
	if (key_pub(&k, kt, label, &cn) != 0)
		goto out;
	/* Buffers below are sized from the public key. */
	if (kt == EVP_PKEY_RSA) {
		if ((k.rsa = EVP_PKEY_get1_RSA(priv)) == NULL ||
		    RSA_size(k.rsa) != (int)k.size)
			goto bad;
	} else if ((k.ec = EVP_PKEY_get1_EC_KEY(priv)) == NULL)
		goto bad;
	SHA256(k.info.spki, k.info.spki_len, k.info.id);
	for (i = 0; i < t->nkeys; i++) {
		if (memcmp(t->keys[i].info.id, k.info.id, sizeof(k.info.id)))
			continue;
		log_info_f("key \"%s\": also on token \"%s\", skipped", label,
		    t->keys[i].tok->label);
		goto out;
	}
	k.info.ops = key_ops(tk, k.info.type, pk, &k.always_auth);
	if (k.info.type == P11AGENT_KEY_EC &&
	    (r = ec_pair_check(&k, label)) != 0) {
		r = 0;			/* skipped, not fatal */
		goto out;
	}
	if ((c = PKCS11_find_certificate(pk)) != NULL && c->x509 != NULL &&
	    (n = i2d_X509(c->x509, &der)) > 0) {
		if ((size_t)n > P11AGENT_MAX_CERT)
			log_info_f("key \"%s\": certificate over %d bytes, "
			    "not listed", label, P11AGENT_MAX_CERT);
		else if ((k.info.cert = malloc((size_t)n)) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		} else {
			memcpy(k.info.cert, der, (size_t)n);
			k.info.cert_len = (size_t)n;
		}
	}
	ERR_clear_error();
	r = key_append(t, tk, &k, label, cn, pk->id, pk->id_len);
	goto out;
 bad:
	log_info_f("key \"%s\": unusable public key, skipped", label);
	ERR_clear_error();
 out:
	OPENSSL_free(der);
	EVP_PKEY_free(priv);
	key_free(&k);
	return r;
}

/* Login and logout. Called with the write lock held. */

static void
token_logout_one(struct tok_token *tk)
{
	CK_FUNCTION_LIST *fn = tk->mod->fn;
	CK_RV rv;

	if (fn == NULL && tk->did_login && tk->slot != NULL &&
	    PKCS11_logout(tk->slot) != 0)
		log_info_f("token \"%s\": logout: %s", tk->label,
		    ckr_name(ckr_from_errors()));
	if (tk->has_session) {
		if (tk->did_login &&
		    (rv = fn->C_Logout(tk->session)) != CKR_OK &&
		    rv != CKR_USER_NOT_LOGGED_IN)
			log_info_f("token \"%s\": C_Logout: %s", tk->label,
			    ckr_name(rv));
		fn->C_CloseSession(tk->session);
	}
	tk->has_session = 0;
	tk->did_login = 0;
	tk->logged_in = 0;
}

static void
logout_locked(struct token_ctx *t)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		key_drop_handles(&t->keys[i]);
	for (i = 0; i < t->ntoks; i++)
		token_logout_one(&t->toks[i]);
	t->logged_in = 0;
	pthread_mutex_lock(&t->st_mtx);
	t->st_logged_in = 0;
	pthread_mutex_unlock(&t->st_mtx);
}

/* Finds m's selected tokens in its slots again; returns how many are missing. */
static size_t
find_tokens(struct token_ctx *t, struct tok_module *m)
{
	struct tok_token *tk;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID sid;
	size_t i, pass, missing = 0;
	unsigned int s;

	for (i = 0; i < t->ntoks; i++) {
		tk = &t->toks[i];
		if (tk->mod != m)
			continue;
		tk->slot = NULL;
		/* The same slot first, then any: it may be in another reader. */
		for (pass = 0; pass < 2 && tk->slot == NULL; pass++) {
			for (s = 0; s < m->nslots; s++) {
				if (m->slots[s].token == NULL)
					continue;
				sid = PKCS11_get_slotid_from_slot(&m->slots[s]);
				if ((pass == 0 && sid != tk->slotid) ||
				    slot_infos(m, &m->slots[s], sid, &si,
				    &ti) != 0 || !same_token(&ti, &tk->ti))
					continue;
				tk->slot = &m->slots[s];
				tk->slotid = sid;
				break;
			}
		}
		if (tk->slot == NULL)
			missing++;
	}
	return missing;
}

static void
release_slots(struct tok_module *m)
{
	if (m->slots != NULL)
		PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
	m->slots = NULL;
	m->nslots = 0;
}

/*
 * Re-finds every selected token after a logout. libp11's slots are
 * released (and with them its session pools, which may hold handles that
 * died with a removed token) and enumerated afresh. When that fails or a
 * token is missing, the module itself is finalised and initialised again:
 * a remote module (p11-kit-client) whose connection broke stays broken
 * until then. Called with the write lock held and nothing logged in.
 */
static void
refind_module(struct token_ctx *t, struct tok_module *m)
{
	release_slots(m);
	if (m->loaded && PKCS11_enumerate_slots(m->ctx, &m->slots,
	    &m->nslots) == 0 && find_tokens(t, m) == 0)
		return;
	ERR_clear_error();
	release_slots(m);
	/* Recovery polls: one line when it starts, not one per attempt. */
	if (t->quiet)
		log_debug_f("module %s: reinitialising", m->path);
	else
		log_info_f("module %s: reinitialising", m->path);
	/* A new context: reloading an old one leaks its strings. */
	if (m->loaded)
		PKCS11_CTX_unload(m->ctx);
	m->loaded = 0;
	if (m->ctx != NULL)
		PKCS11_CTX_free(m->ctx);
	if ((m->ctx = PKCS11_CTX_new()) == NULL ||
	    PKCS11_CTX_load(m->ctx, m->path) != 0) {
		if (t->quiet)
			log_debug_f("module %s: cannot load: %s", m->path,
			    ckr_name(ckr_from_errors()));
		else
			log_err_f("module %s: cannot load: %s", m->path,
			    ckr_name(ckr_from_errors()));
	} else {
		m->loaded = 1;
		PKCS11_set_ui_method(m->ctx, t->ui, NULL);
		if ((m->fn != NULL && m->fn->C_GetInfo(&m->info) !=
		    CKR_OK) || PKCS11_enumerate_slots(m->ctx, &m->slots,
		    &m->nslots) != 0) {
			if (t->quiet)
				log_debug_f("module %s: slot list: %s", m->path,
				    ckr_name(ckr_from_errors()));
			else
				log_err_f("module %s: slot list: %s", m->path,
				    ckr_name(ckr_from_errors()));
			m->slots = NULL;
			m->nslots = 0;
		}
	}
	find_tokens(t, m);
}

static void
refind_tokens(struct token_ctx *t)
{
	size_t i;

	for (i = 0; i < t->nmods; i++)
		refind_module(t, &t->mods[i]);
}

/*
 * Logs in to one token, on a session of our own when the module's
 * function list is reachable. Not PKCS11_login() there: libp11 0.4.12
 * keeps an OPENSSL_strdup() of the PIN (slot->prev_pin, for re-login
 * after fork) until the slot is freed, and its session pool waits
 * forever on a condition variable when C_OpenSession fails with no
 * session pooled. Login state is per token, so libp11's pooled sessions
 * are logged in too; nothing in libp11 0.4.12 reads its own login flag
 * outside PKCS11_login/logout/is_logged_in and fork recovery.
 *
 * XXX Without direct access (p11-kit-client/-proxy) this falls back to
 * PKCS11_login(): libp11 then holds a heap copy of the PIN until
 * token_logout() releases the slots, and a token that vanishes between
 * slot enumeration and login can hang the caller in libp11.
 */
static int
token_login_one(struct tok_token *tk, const char *pin, int automatic)
{
	struct tok_module *m = tk->mod;
	CK_FUNCTION_LIST *fn = m->fn;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	size_t len;
	int protected_path;

	if (tk->slot == NULL) {
		log_err_f("token \"%s\": not present", tk->label);
		return P11AGENT_ERR_TOKEN_NOT_PRESENT;
	}
	/* Fresh flags: libp11 re-read them when refind_tokens() ran. */
	if (slot_infos(m, tk->slot, tk->slotid, &si, &ti) != 0) {
		log_err_f("token \"%s\": no token info", tk->label);
		return P11AGENT_ERR_TOKEN_NOT_PRESENT;
	}
	protected_path = (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	if ((ti.flags & CKF_LOGIN_REQUIRED) && !protected_path) {
		if (ti.flags & CKF_USER_PIN_LOCKED) {
			log_err_f("token \"%s\": user pin locked", tk->label);
			tk->fail_flags = ti.flags;
			return P11AGENT_ERR_PIN_LOCKED;
		}
		if (pin == NULL)
			return P11AGENT_ERR_PIN_REQUIRED;
		len = strlen(pin);
		/* Out of range costs no try if we never send it. */
		if ((ti.ulMaxPinLen != CK_UNAVAILABLE_INFORMATION &&
		    ti.ulMaxPinLen != 0 && len > ti.ulMaxPinLen) ||
		    (ti.ulMinPinLen != CK_UNAVAILABLE_INFORMATION &&
		    len < ti.ulMinPinLen)) {
			log_err_f("token \"%s\": pin length out of range "
			    "(%lu to %lu)", tk->label,
			    (unsigned long)ti.ulMinPinLen,
			    (unsigned long)ti.ulMaxPinLen);
			return P11AGENT_ERR_PIN_LEN_RANGE;
		}
		if (ti.flags & CKF_USER_PIN_FINAL_TRY) {
			/*
			 * A cached PIN was right once, but someone has been
			 * failing since: it may have been changed. Do not
			 * risk the last try without the user.
			 */
			if (automatic) {
				log_err_f("token \"%s\": one pin try left; "
				    "not logging in with the cached pin",
				    tk->label);
				tk->fail_flags = ti.flags;
				return P11AGENT_ERR_PIN_REQUIRED;
			}
			log_err_f("token \"%s\": one pin try left", tk->label);
		} else if (ti.flags & CKF_USER_PIN_COUNT_LOW)
			log_info_f("token \"%s\": pin tries low", tk->label);
	}
	if (fn == NULL) {
		if ((ti.flags & CKF_LOGIN_REQUIRED) &&
		    PKCS11_login(tk->slot, 0, protected_path ? NULL : pin) != 0) {
			rv = ckr_from_errors();
			log_err_f("token \"%s\": login: %s", tk->label,
			    ckr_name(rv));
			tk->fail_flags = 0;	/* unknown here */
			return ckr_to_err(rv);
		}
		tk->did_login = (ti.flags & CKF_LOGIN_REQUIRED) != 0;
		tk->logged_in = 1;
		return 0;
	}

	if ((rv = fn->C_OpenSession(tk->slotid, CKF_SERIAL_SESSION, NULL,
	    NULL, &s)) != CKR_OK) {
		log_err_f("token \"%s\": C_OpenSession: %s", tk->label,
		    ckr_name(rv));
		return ckr_to_err(rv);
	}
	tk->session = s;
	tk->has_session = 1;
	if (!(ti.flags & CKF_LOGIN_REQUIRED)) {
		tk->logged_in = 1;
		return 0;
	}
	if (protected_path)
		rv = fn->C_Login(s, CKU_USER, NULL, 0);
	else
		rv = fn->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
		    (CK_ULONG)strlen(pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK) {
		log_err_f("token \"%s\": C_Login: %s", tk->label,
		    ckr_name(rv));
		/* Tell the operator how close the token is to locking. */
		tk->fail_flags = 0;
		if (fn->C_GetTokenInfo(tk->slotid, &ti) == CKR_OK) {
			tk->fail_flags = ti.flags;
			if (ti.flags & (CKF_USER_PIN_LOCKED |
			    CKF_USER_PIN_FINAL_TRY))
				log_err_f("token \"%s\": %s", tk->label,
				    (ti.flags & CKF_USER_PIN_LOCKED) ?
				    "user pin now locked" : "one pin try left");
		}
		token_logout_one(tk);
		return ckr_to_err(rv);
	}
	tk->did_login = 1;
	tk->logged_in = 1;
	return 0;
}

static int
load_keys(struct token_ctx *t, struct tok_token *tk)
{
	PKCS11_KEY *keys = NULL;
	unsigned int n = 0, i;
	size_t before;
	CK_RV rv;
	int r;

	if (PKCS11_enumerate_keys(tk->slot->token, &keys, &n) != 0) {
		rv = ckr_from_errors();
		log_err_f("token \"%s\": key list: %s", tk->label,
		    ckr_name(rv));
		return ckr_to_err(rv);
	}
	before = t->nkeys;
	for (i = 0; i < n; i++)
		if (keys[i].isPrivate && (r = key_add(t, tk, &keys[i])) != 0)
			return r;
	log_info_f("token \"%s\": %zu keys", tk->label, t->nkeys - before);
	return 0;
}

/*
 * Before login: a key listed from its certificate (a public object),
 * with the certificate's label and CKA_ID and without handles; the login
 * finds the private key and lists it under the same key id. Not from
 * the public key objects: libp11 0.4.12 leaks the object behind every
 * PKCS11_get_public_key(). The operations are the key type's until then.
 */
static int
key_add_cert(struct token_ctx *t, struct tok_token *tk, PKCS11_CERT *c)
{
	struct tok_key k;
	EVP_PKEY *pub;
	const char *cn = "", *label = c->label != NULL ? c->label : "";
	unsigned char *der = NULL;
	int kt, n, r = 0;

	memset(&k, 0, sizeof(k));
	k.tok = tk;
	if (c->x509 == NULL || (pub = X509_get0_pubkey(c->x509)) == NULL)
		goto out;
	kt = EVP_PKEY_get_base_id(pub);
	if ((kt != EVP_PKEY_RSA && kt != EVP_PKEY_EC) ||
	    (n = i2d_PUBKEY(pub, &der)) <= 0)
		goto out;
	if ((k.info.spki = malloc((size_t)n)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(k.info.spki, der, (size_t)n);
	k.info.spki_len = (size_t)n;
	OPENSSL_free(der);
	der = NULL;
	if (key_pub(&k, kt, label, &cn) != 0)
		goto out;
	SHA256(k.info.spki, k.info.spki_len, k.info.id);
	if (key_listed(t, &k))
		goto out;
	k.info.ops = k.info.type == P11AGENT_KEY_RSA ?
	    P11AGENT_OP_SIGN | P11AGENT_OP_DECRYPT :
	    P11AGENT_OP_SIGN | P11AGENT_OP_DERIVE;
	if ((n = i2d_X509(c->x509, &der)) > 0 &&
	    (size_t)n <= P11AGENT_MAX_CERT) {
		if ((k.info.cert = malloc((size_t)n)) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		memcpy(k.info.cert, der, (size_t)n);
		k.info.cert_len = (size_t)n;
	}
	r = key_append(t, tk, &k, label, cn, c->id, c->id_len);
 out:
	ERR_clear_error();
	OPENSSL_free(der);
	key_free(&k);
	return r;
}

/*
 * Before login: tk's keys from its certificates. XXX a key without a
 * certificate is listed only once the agent has logged in.
 */
static int
scan_keys(struct token_ctx *t, struct tok_token *tk)
{
	PKCS11_CERT *certs = NULL;
	unsigned int n = 0, i;
	int r;

	if (tk->slot == NULL || tk->slot->token == NULL)
		return 0;
	if (PKCS11_enumerate_certs(tk->slot->token, &certs, &n) != 0) {
		log_info_f("token \"%s\": certificate list: %s", tk->label,
		    ckr_name(ckr_from_errors()));
		return 0;
	}
	for (i = 0; i < n; i++)
		if ((r = key_add_cert(t, tk, &certs[i])) != 0)
			return r;
	return 0;
}

static void
recount_keys(struct token_ctx *t)
{
	size_t i;

	for (i = 0; i < t->ntoks; i++)
		t->toks[i].nkeys = 0;
	for (i = 0; i < t->nkeys; i++)
		t->keys[i].tok->nkeys++;
}

/* Called with the write lock held. */
static int
needs_pin_locked(const struct token_ctx *t)
{
	size_t i;

	for (i = 0; i < t->ntoks; i++)
		if ((t->toks[i].ti.flags & CKF_LOGIN_REQUIRED) &&
		    !(t->toks[i].ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH))
			return 1;
	return 0;
}

int
token_login(struct token_ctx *t, const char *pin)
{
	struct tok_key *old;
	void (*fn)(void *) = NULL;
	void *arg = NULL;
	CK_FLAGS ff = 0;
	size_t i, nold;
	int r = 0, present = 0;

	return_val_if_fail(t != NULL, P11AGENT_ERR_INVALID_ARGUMENT);

	pthread_rwlock_wrlock(&t->lock);
	logout_locked(t);
	refind_tokens(t);
	/* Keys are found again from scratch; the old list goes on success. */
	old = t->keys;
	nold = t->nkeys;
	t->keys = NULL;
	t->nkeys = 0;

	/*
	 * One try per token, and none after the first failure: the PIN is
	 * the same for every token, so a wrong one would only burn tries.
	 */
	for (i = 0; i < t->ntoks; i++) {
		if (t->toks[i].slot == NULL) {
			log_err_f("token \"%s\": not present",
			    t->toks[i].label);
			continue;
		}
		present++;
		if ((r = token_login_one(&t->toks[i], pin, 0)) != 0) {
			ff = t->toks[i].fail_flags;
			break;
		}
	}
	if (r == 0 && present == 0)
		r = P11AGENT_ERR_TOKEN_NOT_PRESENT;
	for (i = 0; r == 0 && i < t->ntoks; i++)
		if (t->toks[i].logged_in)
			r = load_keys(t, &t->toks[i]);
	kit_done(t);
	if (r != 0) {
		logout_locked(t);
		refind_tokens(t);	/* as token_logout() */
		for (i = 0; i < t->nkeys; i++)
			key_free(&t->keys[i]);
		free(t->keys);
		/* Keep listing what we had; it is locked now. */
		t->keys = old;
		t->nkeys = nold;
		recount_keys(t);
		/* Never keep, and never try again, a PIN that failed. */
		pin_cache_forget();
		pthread_mutex_lock(&t->st_mtx);
		t->fail_flags = ff;
		for (i = 0; i < t->ntoks; i++)
			set_down(t, &t->toks[i], 0);
		st_changed(t);
		pthread_mutex_unlock(&t->st_mtx);
		pthread_rwlock_unlock(&t->lock);
		return r;
	}
	for (i = 0; i < nold; i++)
		key_free(&old[i]);
	free(old);
	recount_keys(t);
	t->logged_in = 1;
	/* For re-login after recovery and for context-specific logins. */
	if (pin != NULL && needs_pin_locked(t) && pin_cache_set(pin) != 0)
		log_err_f("cannot cache the pin; a token that comes back "
		    "will need p11 unlock");
	pthread_mutex_lock(&t->st_mtx);
	t->st_logged_in = 1;
	/* A token missing now is polled for, and logged in when it is back. */
	for (i = 0; i < t->ntoks; i++)
		set_down(t, &t->toks[i], t->toks[i].slot == NULL);
	t->login_err = 0;
	t->fail_flags = 0;
	st_changed(t);
	if (t->ndown > 0) {
		fn = t->event_fn;
		arg = t->event_arg;
	}
	pthread_mutex_unlock(&t->st_mtx);
	pthread_rwlock_unlock(&t->lock);
	if (fn != NULL)
		fn(arg);
	return 0;
}

int
token_logout(struct token_ctx *t)
{
	size_t i;

	return_val_if_fail(t != NULL, P11AGENT_ERR_INVALID_ARGUMENT);

	pthread_rwlock_wrlock(&t->lock);
	logout_locked(t);
	/*
	 * Dropping libp11's slots frees whatever it kept of a login
	 * (OPENSSL_cleanse of its PIN copy on the PKCS11_login path) and
	 * refreshes presence for STATUS.
	 */
	refind_tokens(t);
	pin_cache_forget();
	pthread_mutex_lock(&t->st_mtx);
	/* Locked: nothing to recover until the next login finds them. */
	for (i = 0; i < t->ntoks; i++)
		set_down(t, &t->toks[i], 0);
	t->login_err = 0;
	st_changed(t);
	pthread_mutex_unlock(&t->st_mtx);
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int
token_logged_in(struct token_ctx *t)
{
	int r;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->st_mtx);
	r = t->st_logged_in;
	pthread_mutex_unlock(&t->st_mtx);
	return r;
}

int
token_needs_pin(struct token_ctx *t)
{
	int r;

	if (t == NULL)
		return 0;
	pthread_rwlock_rdlock(&t->lock);
	r = needs_pin_locked(t);
	pthread_rwlock_unlock(&t->lock);
	return r;
}

/* Recovery. */

static int
pin_error(int r)
{
	return r == P11AGENT_ERR_PIN_INCORRECT ||
	    r == P11AGENT_ERR_PIN_LOCKED || r == P11AGENT_ERR_PIN_LEN_RANGE ||
	    r == P11AGENT_ERR_PIN_REQUIRED;
}

/* Called with the write lock held (down flags cannot change under it). */
static int
module_has_down(const struct token_ctx *t, const struct tok_module *m)
{
	size_t i;

	for (i = 0; i < t->ntoks; i++)
		if (t->toks[i].mod == m && t->toks[i].down)
			return 1;
	return 0;
}

/*
 * Whether recover_module() should run for m now: a cheap look at the
 * slots for a down token's serial and label, so that polling for a card
 * that stays out does not log m's other tokens out again and again. A
 * module whose slot list fails (a broken connection) is reinitialised.
 * Called with the write lock held.
 */
static int
module_probe(struct token_ctx *t, struct tok_module *m)
{
	CK_FUNCTION_LIST *fn = m->fn;
	CK_SLOT_ID *ids = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, s;
	size_t i, up = 0;
	int back = 0;

	for (i = 0; i < t->ntoks; i++)
		if (t->toks[i].mod == m && !t->toks[i].down)
			up++;
	/*
	 * XXX Without the function list (p11-kit's client and proxy) there
	 * is no look without reinitialising: recover only when every token
	 * of the module is down, as when its connection broke.
	 */
	if (fn == NULL || !m->loaded)
		return up == 0;
	if (fn->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK)
		return 1;
	if ((ids = calloc(n > 0 ? n : 1, sizeof(*ids))) == NULL)
		return 0;
	if (fn->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK) {
		free(ids);
		return 1;
	}
	for (s = 0; s < n && !back; s++) {
		if (fn->C_GetTokenInfo(ids[s], &ti) != CKR_OK)
			continue;
		for (i = 0; i < t->ntoks && !back; i++)
			back = t->toks[i].mod == m && t->toks[i].down &&
			    same_token(&ti, &t->toks[i].ti);
	}
	free(ids);
	return back;
}

static size_t
tok_index(const struct token_ctx *t, const struct tok_token *tk)
{
	return (size_t)(tk - t->toks);
}

/* Keys in token order (stable), as token_login() lists them. */
static void
keys_sort(struct token_ctx *t)
{
	struct tok_key tmp;
	size_t i, j;

	for (i = 1; i < t->nkeys; i++) {
		tmp = t->keys[i];
		for (j = i; j > 0 && tok_index(t, t->keys[j - 1].tok) >
		    tok_index(t, tmp.tok); j--)
			t->keys[j] = t->keys[j - 1];
		t->keys[j] = tmp;
	}
}

/* Moves the keys of m's tokens out of t->keys into *oldp. */
static int
keys_take(struct token_ctx *t, const struct tok_module *m,
    struct tok_key **oldp, size_t *noldp)
{
	struct tok_key *old;
	size_t i, n = 0, keep = 0;

	*oldp = NULL;
	*noldp = 0;
	if ((old = calloc(t->nkeys > 0 ? t->nkeys : 1, sizeof(*old))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	for (i = 0; i < t->nkeys; i++) {
		if (t->keys[i].tok->mod == m)
			old[n++] = t->keys[i];
		else
			t->keys[keep++] = t->keys[i];
	}
	t->nkeys = keep;
	*oldp = old;
	*noldp = n;
	return 0;
}

/* Drops the keys at index from and after (those just loaded). */
static void
keys_drop_from(struct token_ctx *t, size_t from)
{
	while (t->nkeys > from)
		key_free(&t->keys[--t->nkeys]);
}

static void
hexid(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/*
 * Puts back the old keys of m: a key found again (same key id, that is
 * the same public key) keeps its new entry; one whose token is still
 * down stays listed without a handle; one whose token is back without
 * it is gone. A CKA_ID that now names another public key is logged: its
 * key has a new id and the old id is not served, so nothing signs with
 * a different key by mistake.
 */
static int
keys_merge(struct token_ctx *t, struct tok_key *old, size_t nold)
{
	struct tok_key *nk;
	char idh[2 * P11AGENT_KEYID_LEN + 1];
	size_t i, j;
	int found;

	for (i = 0; i < nold; i++) {
		found = 0;
		for (j = 0; j < t->nkeys && !found; j++)
			found = memcmp(t->keys[j].info.id, old[i].info.id,
			    P11AGENT_KEYID_LEN) == 0;
		if (found) {
			key_free(&old[i]);
			continue;
		}
		if (old[i].tok->logged_in) {
			hexid(old[i].info.id, 8, idh, sizeof(idh));
			for (j = 0; j < t->nkeys; j++)
				if (t->keys[j].tok == old[i].tok &&
				    t->keys[j].info.ckaid_len ==
				    old[i].info.ckaid_len &&
				    memcmp(t->keys[j].info.ckaid,
				    old[i].info.ckaid, old[i].info.ckaid_len) ==
				    0)
					break;
			if (j < t->nkeys)
				log_err_f("token \"%s\": key \"%s\" (id %s...) "
				    "came back with another public key; it is "
				    "served under its new id only",
				    old[i].tok->label, old[i].info.label, idh);
			else
				log_err_f("token \"%s\": key \"%s\" (id %s...) "
				    "is no longer on the token",
				    old[i].tok->label, old[i].info.label, idh);
			key_free(&old[i]);
			continue;
		}
		nk = reallocarray(t->keys, t->nkeys + 1, sizeof(*nk));
		if (nk == NULL) {
			for (; i < nold; i++)
				key_free(&old[i]);
			free(old);
			return P11AGENT_ERR_NO_MEMORY;
		}
		t->keys = nk;
		key_drop_handles(&old[i]);
		t->keys[t->nkeys++] = old[i];
	}
	free(old);
	return 0;
}

/*
 * Brings m's down tokens back: every token of m is logged out (a
 * reinitialised module logs them all out anyway), m's slots are found
 * again, and each token found by serial and label is logged in with
 * pin and its keys listed afresh. Returns 0, or the PIN error that
 * stopped it (then nothing of m stays logged in). Write lock held.
 */
static int
recover_module(struct token_ctx *t, struct tok_module *m, const char *pin)
{
	struct tok_token *tk;
	struct tok_key *old = NULL;
	size_t i, nold = 0, before;
	int r = 0, rr;

	for (i = 0; i < t->nkeys; i++)
		if (t->keys[i].tok->mod == m)
			key_drop_handles(&t->keys[i]);
	for (i = 0; i < t->ntoks; i++)
		if (t->toks[i].mod == m)
			token_logout_one(&t->toks[i]);
	refind_module(t, m);
	if (!t->logged_in) {
		/* Locked meanwhile: the next login finds what is there. */
		pthread_mutex_lock(&t->st_mtx);
		for (i = 0; i < t->ntoks; i++)
			if (t->toks[i].mod == m)
				set_down(t, &t->toks[i], 0);
		pthread_mutex_unlock(&t->st_mtx);
		return 0;
	}
	if ((r = keys_take(t, m, &old, &nold)) != 0)
		return r;
	for (i = 0; i < t->ntoks && r == 0; i++) {
		tk = &t->toks[i];
		if (tk->mod != m || tk->slot == NULL)
			continue;
		if ((rr = token_login_one(tk, pin, 1)) != 0) {
			if (pin_error(rr)) {
				r = rr;
				t->fail_flags = tk->fail_flags;
			}
			token_logout_one(tk);
			continue;
		}
		before = t->nkeys;
		if ((rr = load_keys(t, tk)) != 0) {
			log_info_fr(rr, "token \"%s\": keys", tk->label);
			keys_drop_from(t, before);
			token_logout_one(tk);
		}
	}
	if (r != 0) {
		/* A PIN error: nothing of m stays in. */
		for (i = 0; i < t->nkeys;) {
			if (t->keys[i].tok->mod == m) {
				key_free(&t->keys[i]);
				t->keys[i] = t->keys[--t->nkeys];
			} else
				i++;
		}
		for (i = 0; i < t->ntoks; i++)
			if (t->toks[i].mod == m)
				token_logout_one(&t->toks[i]);
	}
	rr = keys_merge(t, old, nold);
	keys_sort(t);
	recount_keys(t);
	pthread_mutex_lock(&t->st_mtx);
	for (i = 0; i < t->ntoks; i++) {
		tk = &t->toks[i];
		if (tk->mod != m)
			continue;
		if (tk->logged_in && tk->down)
			log_info_f("token \"%s\" (serial %s): back, logged in "
			    "again", tk->label, tk->serial);
		set_down(t, tk, !tk->logged_in);
	}
	pthread_mutex_unlock(&t->st_mtx);
	return r != 0 ? r : rr;
}

int
token_recover(struct token_ctx *t, const char *pin)
{
	size_t i, ndown;
	int r = 0, rr;

	return_val_if_fail(t != NULL, P11AGENT_ERR_INVALID_ARGUMENT);

	pthread_rwlock_wrlock(&t->lock);
	t->quiet = 1;
	for (i = 0; i < t->nmods && !pin_error(r); i++) {
		if (!module_has_down(t, &t->mods[i]) ||
		    !module_probe(t, &t->mods[i]))
			continue;
		if ((rr = recover_module(t, &t->mods[i], pin)) != 0)
			r = rr;
	}
	kit_done(t);
	t->quiet = 0;
	pthread_mutex_lock(&t->st_mtx);
	ndown = t->ndown;
	st_changed(t);
	pthread_mutex_unlock(&t->st_mtx);
	pthread_rwlock_unlock(&t->lock);
	if (pin_error(r)) {
		/* Never again with this PIN. */
		pin_cache_forget();
		return r;
	}
	if (r != 0)
		return r;
	return ndown > 0 ? P11AGENT_ERR_TOKEN_NOT_PRESENT : 0;
}

int
token_down(struct token_ctx *t)
{
	size_t n;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->st_mtx);
	n = t->ndown;
	pthread_mutex_unlock(&t->st_mtx);
	return n > 0;
}

void
token_set_event_fn(struct token_ctx *t, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&t->st_mtx);
	t->event_fn = fn;
	t->event_arg = arg;
	pthread_mutex_unlock(&t->st_mtx);
}

/* Logins on demand. */

void
token_login_begin(struct token_ctx *t, int wait_s)
{
	pthread_mutex_lock(&t->st_mtx);
	t->login_pending = 1;
	t->login_until = mono_ms() + 1000L * (wait_s > 0 ? wait_s : 1);
	t->login_err = 0;
	st_changed(t);
	pthread_mutex_unlock(&t->st_mtx);
}

void
token_login_end(struct token_ctx *t, int r)
{
	pthread_mutex_lock(&t->st_mtx);
	t->login_pending = 0;
	t->login_err = r;
	st_changed(t);
	pthread_mutex_unlock(&t->st_mtx);
}

int
token_login_pending(struct token_ctx *t)
{
	int r;

	pthread_mutex_lock(&t->st_mtx);
	r = t->login_pending;
	pthread_mutex_unlock(&t->st_mtx);
	return r;
}

/* The PIN state in words: "final try", "few tries left", or "". */
static const char *
pin_flags_words(CK_FLAGS f)
{
	if (f & CKF_USER_PIN_LOCKED)
		return "locked";
	if (f & CKF_USER_PIN_FINAL_TRY)
		return "final try";
	if (f & CKF_USER_PIN_COUNT_LOW)
		return "few tries left";
	return "";
}

/* Current flags of a token: from the module, else libp11's copy. */
static CK_FLAGS
current_flags(const struct tok_token *tk)
{
	CK_TOKEN_INFO ti;
	const PKCS11_TOKEN *pt;

	if (tk->mod->fn != NULL && tk->slot != NULL &&
	    tk->mod->fn->C_GetTokenInfo(tk->slotid, &ti) == CKR_OK)
		return ti.flags;
	if (tk->slot == NULL || (pt = tk->slot->token) == NULL)
		return 0;
	return (pt->userPinLocked ? CKF_USER_PIN_LOCKED : 0) |
	    (pt->userPinFinalTry ? CKF_USER_PIN_FINAL_TRY : 0) |
	    (pt->userPinCountLow ? CKF_USER_PIN_COUNT_LOW : 0);
}

int
token_pin_check(struct token_ctx *t, char *warn, size_t warnlen)
{
	const struct tok_token *tk;
	const char *w;
	CK_FLAGS f;
	size_t i;
	int r = 0;

	return_val_if_fail(t != NULL && warn != NULL && warnlen > 0,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	warn[0] = '\0';
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->ntoks && r == 0; i++) {
		tk = &t->toks[i];
		if (!(tk->ti.flags & CKF_LOGIN_REQUIRED) ||
		    (tk->ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH))
			continue;
		f = current_flags(tk);
		w = pin_flags_words(f);
		if (f & CKF_USER_PIN_LOCKED) {
			snprintf(warn, warnlen, "PIN locked on token \"%s\"",
			    tk->label);
			r = P11AGENT_ERR_PIN_LOCKED;
		} else if (*w != '\0')
			snprintf(warn, warnlen, "token \"%s\": %s", tk->label,
			    w);
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

void
token_pin_message(struct token_ctx *t, int r, char *buf, size_t len)
{
	const char *w;
	CK_FLAGS f;

	if (buf == NULL || len == 0)
		return;
	pthread_mutex_lock(&t->st_mtx);
	f = t->fail_flags;
	pthread_mutex_unlock(&t->st_mtx);
	w = pin_flags_words(f);
	if (r == P11AGENT_ERR_PIN_LOCKED || (f & CKF_USER_PIN_LOCKED))
		snprintf(buf, len, "PIN locked; unblock it with the SO PIN "
		    "(e.g. pkcs11-tool --unlock-pin)");
	else if (r == P11AGENT_ERR_PIN_INCORRECT && *w != '\0')
		snprintf(buf, len, "PIN incorrect, %s", w);
	else
		snprintf(buf, len, "%s", p11agent_strerror(r));
}

size_t
token_max_parallel(struct token_ctx *t)
{
	CK_ULONG n;
	size_t i, cap, total = 0;

	if (t == NULL)
		return 1;
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->ntoks; i++) {
		n = t->toks[i].ti.ulMaxSessionCount;
		cap = TOKEN_POOL_MAX;
		/* One session is ours, for the login. */
		if (n != CK_EFFECTIVELY_INFINITE &&
		    n != CK_UNAVAILABLE_INFORMATION)
			cap = n > 1 ? (n - 1 < TOKEN_POOL_MAX ?
			    (size_t)(n - 1) : TOKEN_POOL_MAX) : 1;
		total += cap;
	}
	pthread_rwlock_unlock(&t->lock);
	return total > 0 ? total : 1;
}

void
token_close(struct token_ctx *t)
{
	struct tok_module *m;
	size_t i;

	if (t == NULL)
		return;
	logout_locked(t);
	for (i = 0; i < t->nkeys; i++)
		key_free(&t->keys[i]);
	free(t->keys);
	for (i = 0; i < t->ntoks; i++) {
		free(t->toks[i].label);
		free(t->toks[i].serial);
		free(t->toks[i].manufacturer);
		free(t->toks[i].model);
	}
	free(t->toks);
	for (i = 0; i < t->nmods; i++) {
		m = &t->mods[i];
		if (m->ctx != NULL) {
			release_slots(m);
			if (m->loaded)
				PKCS11_CTX_unload(m->ctx);
			PKCS11_CTX_free(m->ctx);
		}
		if (m->dl != NULL)
			dlclose(m->dl);
		free(m->arg);
		free(m->path);
		free(m->kitname);
		pthread_mutex_destroy(&m->call_mtx);
	}
	free(t->mods);
	kit_done(t);
	for (i = 0; i < t->nuris; i++)
		free(t->uris[i]);
	free(t->uris);
	if (t->ui != NULL)
		UI_destroy_method(t->ui);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->st_mtx);
	pthread_cond_destroy(&t->st_cv);
	free(t);
}

/* Copies for the main thread. */

int
token_keys(struct token_ctx *t, struct token_keyinfo **keysp, size_t *nkeysp)
{
	struct token_keyinfo *ks = NULL;
	size_t i, n = 0;
	int r = 0;

	return_val_if_fail(keysp != NULL && nkeysp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*keysp = NULL;
	*nkeysp = 0;
	return_val_if_fail(t != NULL, P11AGENT_ERR_INVALID_ARGUMENT);

	/* The loop thread asks: a recovery attempt must not stall it. */
	if (rdlock_until(t, mono_ms() + TOKEN_LIST_WAIT_MS) != 0)
		return P11AGENT_ERR_BUSY;
	if (t->nkeys > 0 &&
	    (ks = calloc(t->nkeys, sizeof(*ks))) == NULL)
		r = P11AGENT_ERR_NO_MEMORY;
	for (i = 0; r == 0 && i < t->nkeys; i++, n++)
		r = keyinfo_copy(&ks[i], &t->keys[i].info);
	pthread_rwlock_unlock(&t->lock);
	if (r != 0) {
		token_keys_free(ks, n);
		return r;
	}
	*keysp = ks;
	*nkeysp = n;
	return 0;
}

void
token_keys_free(struct token_keyinfo *keys, size_t nkeys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < nkeys; i++)
		keyinfo_clear(&keys[i]);
	free(keys);
}

int
token_infos(struct token_ctx *t, struct token_info **infosp, size_t *ninfosp)
{
	struct token_info *is = NULL, *d;
	const struct tok_token *tk;
	size_t i, n = 0;
	int r = 0;

	return_val_if_fail(infosp != NULL && ninfosp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*infosp = NULL;
	*ninfosp = 0;
	return_val_if_fail(t != NULL, P11AGENT_ERR_INVALID_ARGUMENT);

	if (rdlock_until(t, mono_ms() + TOKEN_LIST_WAIT_MS) != 0)
		return P11AGENT_ERR_BUSY;
	if ((is = calloc(t->ntoks ? t->ntoks : 1, sizeof(*is))) == NULL)
		r = P11AGENT_ERR_NO_MEMORY;
	for (i = 0; r == 0 && i < t->ntoks; i++, n++) {
		tk = &t->toks[i];
		d = &is[i];
		pthread_mutex_lock(&t->st_mtx);
		d->present = tk->slot != NULL && !tk->down;
		pthread_mutex_unlock(&t->st_mtx);
		d->logged_in = tk->logged_in;
		d->nkeys = tk->nkeys;
		if ((d->label = strdup(tk->label)) == NULL ||
		    (d->serial = strdup(tk->serial)) == NULL ||
		    (d->manufacturer = strdup(tk->manufacturer)) == NULL ||
		    (d->model = strdup(tk->model)) == NULL ||
		    (d->module = strdup(tk->mod->arg)) == NULL)
			r = P11AGENT_ERR_NO_MEMORY;
	}
	pthread_rwlock_unlock(&t->lock);
	if (r != 0) {
		token_infos_free(is, n);
		return r;
	}
	*infosp = is;
	*ninfosp = n;
	return 0;
}

void
token_infos_free(struct token_info *infos, size_t ninfos)
{
	size_t i;

	if (infos == NULL)
		return;
	for (i = 0; i < ninfos; i++) {
		free(infos[i].label);
		free(infos[i].serial);
		free(infos[i].manufacturer);
		free(infos[i].model);
		free(infos[i].module);
	}
	free(infos);
}

/* Private-key operations. Called with the read lock held. */

enum alg_kind { ALG_PKCS1, ALG_PSS, ALG_ECDSA, ALG_DEC_PKCS1, ALG_DEC_OAEP };

static const struct alg_info {
	uint32_t alg;
	enum alg_kind kind;
	uint8_t keytype;
	uint32_t op;
	const EVP_MD *(*md)(void);
} algs[] = {
	{ P11AGENT_ALG_RSA_PKCS1_SHA1, ALG_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha1 },
	{ P11AGENT_ALG_RSA_PKCS1_SHA224, ALG_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha224 },
	{ P11AGENT_ALG_RSA_PKCS1_SHA256, ALG_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha256 },
	{ P11AGENT_ALG_RSA_PKCS1_SHA384, ALG_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha384 },
	{ P11AGENT_ALG_RSA_PKCS1_SHA512, ALG_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha512 },
	{ P11AGENT_ALG_RSA_PSS_SHA224, ALG_PSS, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha224 },
	{ P11AGENT_ALG_RSA_PSS_SHA256, ALG_PSS, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha256 },
	{ P11AGENT_ALG_RSA_PSS_SHA384, ALG_PSS, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha384 },
	{ P11AGENT_ALG_RSA_PSS_SHA512, ALG_PSS, P11AGENT_KEY_RSA,
	    P11AGENT_OP_SIGN, EVP_sha512 },
	{ P11AGENT_ALG_ECDSA_SHA1, ALG_ECDSA, P11AGENT_KEY_EC,
	    P11AGENT_OP_SIGN, EVP_sha1 },
	{ P11AGENT_ALG_ECDSA_SHA224, ALG_ECDSA, P11AGENT_KEY_EC,
	    P11AGENT_OP_SIGN, EVP_sha224 },
	{ P11AGENT_ALG_ECDSA_SHA256, ALG_ECDSA, P11AGENT_KEY_EC,
	    P11AGENT_OP_SIGN, EVP_sha256 },
	{ P11AGENT_ALG_ECDSA_SHA384, ALG_ECDSA, P11AGENT_KEY_EC,
	    P11AGENT_OP_SIGN, EVP_sha384 },
	{ P11AGENT_ALG_ECDSA_SHA512, ALG_ECDSA, P11AGENT_KEY_EC,
	    P11AGENT_OP_SIGN, EVP_sha512 },
	{ P11AGENT_ALG_RSA_PKCS1, ALG_DEC_PKCS1, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, NULL },
	{ P11AGENT_ALG_RSA_OAEP_SHA1, ALG_DEC_OAEP, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, EVP_sha1 },
	{ P11AGENT_ALG_RSA_OAEP_SHA224, ALG_DEC_OAEP, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, EVP_sha224 },
	{ P11AGENT_ALG_RSA_OAEP_SHA256, ALG_DEC_OAEP, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, EVP_sha256 },
	{ P11AGENT_ALG_RSA_OAEP_SHA384, ALG_DEC_OAEP, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, EVP_sha384 },
	{ P11AGENT_ALG_RSA_OAEP_SHA512, ALG_DEC_OAEP, P11AGENT_KEY_RSA,
	    P11AGENT_OP_DECRYPT, EVP_sha512 },
};

static struct tok_key *
find_key(struct token_ctx *t, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		if (memcmp(t->keys[i].info.id, id, P11AGENT_KEYID_LEN) == 0)
			return &t->keys[i];
	return NULL;
}

/*
 * Finds the key and checks that it can do alg (an op-kind algorithm).
 * alg 0 means ECDH. The lock check comes last, so that a malformed
 * request gets the same answer locked or not.
 */
static int
find_op(struct token_ctx *t, const uint8_t *id, uint32_t alg, uint32_t op,
    struct tok_key **kp, const struct alg_info **ap)
{
	const struct alg_info *a = NULL;
	struct tok_key *k;
	size_t i;

	*kp = NULL;
	*ap = NULL;
	if ((k = find_key(t, id)) == NULL)
		return P11AGENT_ERR_KEY_NOT_FOUND;
	if (op == P11AGENT_OP_DERIVE) {
		if (k->info.type != P11AGENT_KEY_EC)
			return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	} else {
		for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
			if (algs[i].alg == alg)
				a = &algs[i];
		if (a == NULL || a->op != op || a->keytype != k->info.type)
			return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	}
	if ((k->info.ops & op) == 0)
		return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	*kp = k;
	*ap = a;
	return 0;
}

static int
needs_pin_tok(const struct tok_token *tk)
{
	return (tk->ti.flags & CKF_LOGIN_REQUIRED) &&
	    !(tk->ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
}

typedef int (*req_check_fn)(const struct tok_key *, const struct alg_info *,
    const void *);

/*
 * Finds the key of an operation and waits until its token can serve it:
 * while a login asked for on demand is in progress (up to its deadline),
 * and until TOKEN_DOWN_WAIT_MS after start (when the request came in)
 * while the token is down. The request is checked first (find_op, then
 * check), so that a malformed request gets the same answer in every
 * state. Returns 0 with the read lock held (and the module's call lock
 * where tok_module says so): end with op_end(). Or an error, without.
 */
static int
op_begin(struct token_ctx *t, const uint8_t *id, uint32_t alg, uint32_t op,
    req_check_fn check, const void *arg, long start, struct tok_key **kp,
    const struct alg_info **ap)
{
	struct timespec ts;
	struct tok_key *k;
	unsigned long gen;
	long until, down_until;
	int r, rc;

	down_until = start + TOKEN_DOWN_WAIT_MS;
	for (;;) {
		pthread_mutex_lock(&t->st_mtx);
		until = t->ndown > 0 ? down_until : start + TOKEN_LOCK_WAIT_MS;
		pthread_mutex_unlock(&t->st_mtx);
		/*
		 * A recovery holds the write lock: bounded, as the wait is.
		 * XXX one lock for all tokens: while one is being recovered,
		 * operations on the others wait for that attempt too (a
		 * module that hangs in C_Initialize fails them after 2 s).
		 */
		if ((rc = rdlock_until(t, until)) != 0)
			return rc == ETIMEDOUT && token_down(t) ?
			    P11AGENT_ERR_TOKEN_NOT_PRESENT :
			    P11AGENT_ERR_TIMEOUT;
		if ((r = find_op(t, id, alg, op, kp, ap)) != 0 ||
		    (check != NULL && (r = check(*kp, *ap, arg)) != 0)) {
			pthread_rwlock_unlock(&t->lock);
			return r;
		}
		k = *kp;
		pthread_mutex_lock(&t->st_mtx);
		gen = t->st_gen;
		until = 0;
		if (k->tok->down) {
			r = P11AGENT_ERR_TOKEN_NOT_PRESENT;
			until = down_until;
		} else if (!t->logged_in && t->login_pending) {
			r = P11AGENT_ERR_AGENT_LOCKED;
			until = t->login_until;
		} else if (!t->logged_in)
			r = t->login_err != 0 ? t->login_err :
			    P11AGENT_ERR_AGENT_LOCKED;
		else if (k->rsa == NULL && k->ec == NULL)
			r = P11AGENT_ERR_AGENT_LOCKED;
		else if (k->always_auth && needs_pin_tok(k->tok) &&
		    !pin_cache_has())
			r = P11AGENT_ERR_PIN_REQUIRED;
		else
			r = 0;
		if (r == 0) {
			pthread_mutex_unlock(&t->st_mtx);
			/* fn does not change while the read lock is held. */
			if (k->tok->mod->fn == NULL)
				pthread_mutex_lock(&k->tok->mod->call_mtx);
			return 0;		/* read lock held */
		}
		pthread_rwlock_unlock(&t->lock);
		*kp = NULL;
		*ap = NULL;
		if (until == 0 || mono_ms() >= until) {
			pthread_mutex_unlock(&t->st_mtx);
			return r;
		}
		abs_ms(&ts, until);
		while (t->st_gen == gen &&
		    pthread_cond_timedwait(&t->st_cv, &t->st_mtx, &ts) == 0)
			;
		pthread_mutex_unlock(&t->st_mtx);
	}
}

/* Ends what op_begin() started: the call lock, then the read lock. */
static void
op_end(struct token_ctx *t, struct tok_key *k)
{
	if (k->tok->mod->fn == NULL)
		pthread_mutex_unlock(&k->tok->mod->call_mtx);
	pthread_rwlock_unlock(&t->lock);
}

/*
 * Maps a failed libp11 call, logging the CKR_* name. A token that is
 * gone is marked down (read lock held). libp11 0.4.12 fails without any
 * error when its pool cannot open a session, which is what a dead
 * module connection looks like: that counts as gone too.
 */
static int
op_error(struct token_ctx *t, const struct tok_key *k, const char *what)
{
	int empty, r;
	CK_RV rv = ckr_from_errors_ex(&empty);

	r = ckr_to_err(rv);
	if (empty) {
		log_err_f("token \"%s\" key \"%s\": %s: no session",
		    k->tok->label, k->info.label, what);
		r = P11AGENT_ERR_TOKEN_NOT_PRESENT;
	} else
		log_err_f("token \"%s\" key \"%s\": %s: %s", k->tok->label,
		    k->info.label, what, ckr_name(rv));
	if (r == P11AGENT_ERR_TOKEN_NOT_PRESENT)
		mark_down(t, k->tok);
	return r;
}

/* A token may drop leading zero bytes; the wire form is modulus-sized. */
static void
left_pad(uint8_t *buf, size_t have, size_t want)
{
	if (have < want) {
		memmove(buf + (want - have), buf, have);
		memset(buf, 0, want - have);
	}
}

/*
 * Checks an RSA signature with the software public key before it leaves
 * the agent: a token whose RSA-CRT computation faults would otherwise
 * hand out a signature that reveals the key's factors (Boneh-DeMillo-
 * Lipton / Lenstra). Cheap next to the token's private operation.
 */
static int
rsa_check_sig(const struct tok_key *k, const struct alg_info *a,
    const uint8_t *digest, size_t dlen, const uint8_t *sig)
{
	uint8_t em[P11AGENT_MAX_RSA_BYTES];
	int ok;

	if (a->kind == ALG_PKCS1)
		ok = RSA_verify(EVP_MD_get_type(a->md()), digest,
		    (unsigned int)dlen, sig, (unsigned int)k->size,
		    k->pub_rsa) == 1;
	else
		ok = RSA_public_decrypt((int)k->size, sig, em, k->pub_rsa,
		    RSA_NO_PADDING) == (int)k->size &&
		    RSA_verify_PKCS1_PSS_mgf1(k->pub_rsa, digest, a->md(),
		    a->md(), em, RSA_PSS_SALTLEN_DIGEST) == 1;
	ERR_clear_error();
	if (!ok) {
		log_err_f("token \"%s\" key \"%s\": token made a bad "
		    "signature", k->tok->label, k->info.label);
		return P11AGENT_ERR_TOKEN_ERROR;
	}
	return 0;
}

static int
sign_rsa(struct token_ctx *t, const struct tok_key *k, const struct alg_info *a,
    const uint8_t *digest, size_t dlen, uint8_t *sig)
{
	uint8_t em[P11AGENT_MAX_RSA_BYTES];
	unsigned int slen = 0;
	int n, r;

	if (a->kind == ALG_PKCS1) {
		/* OpenSSL builds the DigestInfo; libp11 -> CKM_RSA_PKCS. */
		if (RSA_sign(EVP_MD_get_type(a->md()), digest,
		    (unsigned int)dlen, sig, &slen, k->rsa) != 1)
			return op_error(t, k, "rsa sign");
		n = (int)slen;
	} else {
		/*
		 * XXX libp11 0.4.12's RSA_METHOD maps only PKCS#1 v1.5 and
		 * no padding to mechanisms (CKM_RSA_PKCS, CKM_RSA_X_509).
		 * PSS is encoded here (MGF1 with the same hash, salt = hash
		 * length) and signed raw with CKM_RSA_X_509. A token that
		 * refuses raw RSA (many FIPS HSMs) cannot do PSS through the
		 * agent until we can call CKM_RSA_PKCS_PSS (libp11 >= 0.4.13
		 * or our own C_Sign).
		 */
		if (RSA_padding_add_PKCS1_PSS_mgf1(k->pub_rsa, em, digest,
		    a->md(), a->md(), RSA_PSS_SALTLEN_DIGEST) != 1) {
			ERR_clear_error();
			return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
		}
		n = RSA_private_encrypt((int)k->size, em, sig, k->rsa,
		    RSA_NO_PADDING);
		if (n <= 0)
			return op_error(t, k, "rsa-pss sign (raw)");
	}
	if ((size_t)n > k->size)
		return P11AGENT_ERR_TOKEN_ERROR;
	left_pad(sig, (size_t)n, k->size);
	if ((r = rsa_check_sig(k, a, digest, dlen, sig)) != 0)
		return r;
	return 0;
}

static int
check_digest(const struct tok_key *k, const struct alg_info *a,
    const void *arg)
{
	(void)k;
	if (*(const size_t *)arg != (size_t)EVP_MD_get_size(a->md()))
		return P11AGENT_ERR_DIGEST_LENGTH;
	return 0;
}

/*
 * An operation that found its token gone is tried once more when the
 * token is back within TOKEN_DOWN_WAIT_MS of the request (a reset, a
 * restarted HSM connection): signing and ECDH have no side effects, and
 * the key id guarantees the same key. Decryption is not retried, so that
 * its failures stay uniform.
 */
static int
retry_gone(int r, long start, int *triesp)
{
	return r == P11AGENT_ERR_TOKEN_NOT_PRESENT && (*triesp)++ == 0 &&
	    mono_ms() < start + TOKEN_DOWN_WAIT_MS;
}

static int
sign_once(struct token_ctx *t, const uint8_t *id, uint32_t alg,
    const uint8_t *digest, size_t digestlen, long start, uint8_t **outp,
    size_t *outlenp)
{
	const struct alg_info *a;
	struct tok_key *k;
	ECDSA_SIG *es = NULL;
	uint8_t *sig = NULL, *p;
	size_t siglen = 0;
	int r, n;

	if ((r = op_begin(t, id, alg, P11AGENT_OP_SIGN, check_digest,
	    &digestlen, start, &k, &a)) != 0)
		return r;
	ERR_clear_error();
	if (a->kind == ALG_ECDSA) {
		/* libp11's EC_KEY_METHOD -> CKM_ECDSA over the digest. */
		if ((es = ECDSA_do_sign(digest, (int)digestlen, k->ec)) == NULL) {
			r = op_error(t, k, "ecdsa sign");
			goto out;
		}
		if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 ||
		    (sig = malloc((size_t)n)) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		p = sig;
		siglen = (size_t)i2d_ECDSA_SIG(es, &p);
	} else {
		if ((sig = malloc(k->size)) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		siglen = k->size;
		if ((r = sign_rsa(t, k, a, digest, digestlen, sig)) != 0)
			goto out;
	}
	*outp = sig;
	*outlenp = siglen;
	sig = NULL;
	r = 0;
 out:
	op_end(t, k);
	ECDSA_SIG_free(es);
	free(sig);
	return r;
}

int
token_sign(struct token_ctx *t, const uint8_t *id, uint32_t alg,
    const uint8_t *digest, size_t digestlen, uint8_t **outp, size_t *outlenp)
{
	long start = mono_ms();
	int r, tries = 0;

	return_val_if_fail(outp != NULL && outlenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*outp = NULL;
	*outlenp = 0;
	return_val_if_fail(t != NULL && id != NULL && digest != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	do {
		r = sign_once(t, id, alg, digest, digestlen, start, outp,
		    outlenp);
	} while (retry_gone(r, start, &tries));
	return r;
}

/*
 * Every failure after the token is asked is P11AGENT_ERR_DECRYPT_FAILED
 * and is logged at debug level only, so that neither the reply nor the
 * log tells a padding error from any other.
 */
static int
decrypt_fail(struct token_ctx *t, const struct tok_key *k)
{
	int empty;
	CK_RV rv = ckr_from_errors_ex(&empty);

	if (empty || ckr_to_err(rv) == P11AGENT_ERR_TOKEN_NOT_PRESENT) {
		/* Not data-dependent; the operator needs to see it. */
		log_err_f("token \"%s\": %s", k->tok->label,
		    empty ? "no session" : ckr_name(rv));
		mark_down(t, k->tok);
	} else
		log_debug_f("token \"%s\" key \"%s\": decrypt failed",
		    k->tok->label, k->info.label);
	return P11AGENT_ERR_DECRYPT_FAILED;
}

int
token_decrypt(struct token_ctx *t, const uint8_t *id, uint32_t alg,
    const uint8_t *in, size_t inlen, uint8_t **outp, size_t *outlenp)
{
	const struct alg_info *a;
	struct tok_key *k;
	uint8_t blk[P11AGENT_MAX_RSA_BYTES], msg[P11AGENT_MAX_RSA_BYTES];
	uint8_t *out = NULL;
	int r, n = -1;

	return_val_if_fail(outp != NULL && outlenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*outp = NULL;
	*outlenp = 0;
	return_val_if_fail(t != NULL && id != NULL && in != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);

	if ((r = op_begin(t, id, alg, P11AGENT_OP_DECRYPT, NULL, NULL,
	    mono_ms(), &k, &a)) != 0)
		return r;
	r = P11AGENT_ERR_DECRYPT_FAILED;
	if (inlen != k->size) {
		log_debug_f("key \"%s\": ciphertext length %zu, want %zu",
		    k->info.label, inlen, k->size);
		goto out;
	}
	ERR_clear_error();
	if (a->kind == ALG_DEC_PKCS1) {
		/* libp11 -> CKM_RSA_PKCS; the token removes the padding. */
		if ((n = RSA_private_decrypt((int)inlen, in, msg, k->rsa,
		    RSA_PKCS1_PADDING)) < 0) {
			r = decrypt_fail(t, k);
			goto out;
		}
	} else {
		/*
		 * XXX as for PSS: CKM_RSA_X_509, then OpenSSL's constant-time
		 * OAEP check (MGF1 with the same hash, empty label) here.
		 * Tokens that refuse raw RSA cannot do OAEP through us yet.
		 */
		if ((n = RSA_private_decrypt((int)inlen, in, blk, k->rsa,
		    RSA_NO_PADDING)) <= 0 || (size_t)n > k->size) {
			n = -1;
			r = decrypt_fail(t, k);
			goto out;
		}
		left_pad(blk, (size_t)n, k->size);
		if ((n = RSA_padding_check_PKCS1_OAEP_mgf1(msg, (int)k->size,
		    blk, (int)k->size, (int)k->size, NULL, 0, a->md(),
		    a->md())) < 0) {
			r = decrypt_fail(t, k);
			goto out;
		}
	}
	if ((out = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(out, msg, (size_t)n);
	*outp = out;
	*outlenp = (size_t)n;
	r = 0;
 out:
	op_end(t, k);
	secmem_wipe(blk, sizeof(blk));
	secmem_wipe(msg, sizeof(msg));
	return r;
}

/* The peer point must be uncompressed, on the key's curve, of full order. */
static EC_POINT *
peer_point(const EC_GROUP *g, size_t fieldlen, const uint8_t *peer,
    size_t peerlen)
{
	EC_POINT *pt = NULL, *tmp = NULL;
	const BIGNUM *cof;
	int ok = 0;

	if (peerlen != 1 + 2 * fieldlen || peer[0] != 0x04)
		return NULL;
	if ((pt = EC_POINT_new(g)) == NULL ||
	    EC_POINT_oct2point(g, pt, peer, peerlen, NULL) != 1 ||
	    EC_POINT_is_at_infinity(g, pt) ||
	    EC_POINT_is_on_curve(g, pt, NULL) != 1)
		goto out;
	/* NIST curves have cofactor 1; others must not give a small subgroup. */
	if ((cof = EC_GROUP_get0_cofactor(g)) != NULL && !BN_is_one(cof) &&
	    ((tmp = EC_POINT_new(g)) == NULL ||
	    EC_POINT_mul(g, tmp, NULL, pt, EC_GROUP_get0_order(g), NULL) != 1 ||
	    !EC_POINT_is_at_infinity(g, tmp)))
		goto out;
	ok = 1;
 out:
	EC_POINT_free(tmp);
	if (!ok) {
		EC_POINT_free(pt);
		ERR_clear_error();
		return NULL;
	}
	return pt;
}

static int
derive_once(struct token_ctx *t, const uint8_t *id, const uint8_t *peer,
    size_t peerlen, long start, uint8_t **outp, size_t *outlenp)
{
	const struct alg_info *a;
	struct tok_key *k;
	EC_POINT *pt = NULL;
	uint8_t *out = NULL;
	int r, n;

	if ((r = op_begin(t, id, 0, P11AGENT_OP_DERIVE, NULL, NULL, start,
	    &k, &a)) != 0)
		return r;
	if ((pt = peer_point(EC_KEY_get0_group(k->pub_ec), k->size, peer,
	    peerlen)) == NULL) {
		r = P11AGENT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((out = malloc(k->size)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	ERR_clear_error();
	/* libp11's EC_KEY_METHOD -> CKM_ECDH1_DERIVE, CKD_NULL. */
	if ((n = ECDH_compute_key(out, k->size, pt, k->ec, NULL)) <= 0) {
		r = op_error(t, k, "ecdh derive");
		goto out;
	}
	if ((size_t)n != k->size) {
		log_err_f("token \"%s\": ecdh gave %d bytes, want %zu",
		    k->tok->label, n, k->size);
		r = P11AGENT_ERR_TOKEN_ERROR;
		goto out;
	}
	*outp = out;
	*outlenp = k->size;
	out = NULL;
	r = 0;
 out:
	op_end(t, k);
	EC_POINT_free(pt);
	p11agent_freezero(out, out != NULL ? k->size : 0);
	return r;
}

int
token_derive(struct token_ctx *t, const uint8_t *id, const uint8_t *peer,
    size_t peerlen, uint8_t **outp, size_t *outlenp)
{
	long start = mono_ms();
	int r, tries = 0;

	return_val_if_fail(outp != NULL && outlenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*outp = NULL;
	*outlenp = 0;
	return_val_if_fail(t != NULL && id != NULL && peer != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	do {
		r = derive_once(t, id, peer, peerlen, start, outp, outlenp);
	} while (retry_gone(r, start, &tries));
	return r;
}
