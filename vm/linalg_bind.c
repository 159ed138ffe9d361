/*
 * linalg_bind.c: Lua bindings of the LAPACK-based linear algebra of the core
 * (tensor/linalg_lu.c, tensor/linalg_decomp.c) as the table ember.linalg,
 * PyTorch's torch.linalg: inv det slogdet solve solve_triangular lu_factor
 * lu lu_solve cholesky qr eigh eigvalsh svd svdvals.  The functions written in Lua on top of these (lstsq, pinv,
 * norms, matrix_power, cross, ...) are added by lua/ember/linalg.lua.
 * Top-level aliases as torch has them: ember.inverse / x:inverse(),
 * ember.det / x:det(), ember.slogdet, ember.cholesky, ember.qr (methods too).
 */
#include "vm/lt.h"

#include <string.h>

static int l_inv(lua_State *L) {
    vm_push_tensor(L, tn_linalg_inv(vm_check_tensor(L, 1)));
    return 1;
}

static int l_det(lua_State *L) {
    vm_push_tensor(L, tn_linalg_det(vm_check_tensor(L, 1)));
    return 1;
}

static int l_slogdet(lua_State *L) {
    tn_tensor *s, *l;
    if (tn_linalg_slogdet(vm_check_tensor(L, 1), &s, &l) < 0) return vm_error(L, "linalg.slogdet");
    vm_push_tensor(L, s);
    vm_push_tensor(L, l);
    return 2;
}

static int l_solve(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    vm_prepare_args(L, 2, 2, "linalg.solve");
    tn_tensor *b = vm_to_tensor(L, 2, "linalg.solve");
    tn_tensor *x = tn_linalg_solve(a, b);
    tn_release(b);
    vm_push_tensor(L, x);
    return 1;
}

/* solve_triangular(A, B, {upper=, left=true, unitriangular=false}) */
static int l_solve_triangular(lua_State *L) {
    const char *op = "linalg.solve_triangular";
    tn_tensor *a = vm_check_tensor(L, 1);
    if (lua_type(L, 3) != LUA_TTABLE) return luaL_error(L, "%s: give the options {upper=true or false [, left=, unitriangular=]}", op);
    lua_getfield(L, 3, "upper");
    bool has_upper = lua_isboolean(L, -1);
    lua_pop(L, 1);
    if (!has_upper) return luaL_error(L, "%s: option 'upper' (true or false) is required, as in PyTorch", op);
    bool upper = lt_opt_bool(L, 3, "upper", false), left = lt_opt_bool(L, 3, "left", true);
    bool unit = lt_opt_bool(L, 3, "unitriangular", false);
    vm_prepare_args(L, 2, 2, op);
    tn_tensor *b = vm_to_tensor(L, 2, op), *x;
    if (left) {
        x = tn_linalg_solve_triangular(a, b, upper, unit);
    } else {  /* X A = B  <=>  A^T X^T = B^T, A^T triangular the other way */
        tn_tensor *at = tn_transpose(a, -2, -1), *bt = at ? tn_transpose(b, -2, -1) : NULL;
        tn_tensor *xt = bt ? tn_linalg_solve_triangular(at, bt, !upper, unit) : NULL;
        x = xt ? tn_transpose(xt, -2, -1) : NULL;
        tn_release(at);
        tn_release(bt);
        tn_release(xt);
    }
    tn_release(b);
    vm_push_tensor(L, x);
    return 1;
}

static int l_lu_factor(lua_State *L) {
    tn_tensor *lu, *piv;
    if (tn_linalg_lu_factor(vm_check_tensor(L, 1), &lu, &piv) < 0) return vm_error(L, "linalg.lu_factor");
    vm_push_tensor(L, lu);
    vm_push_tensor(L, piv);
    return 2;
}

static int l_lu(lua_State *L) {
    tn_tensor *p, *l, *u;
    if (tn_linalg_lu(vm_check_tensor(L, 1), &p, &l, &u) < 0) return vm_error(L, "linalg.lu");
    vm_push_tensor(L, p);
    vm_push_tensor(L, l);
    vm_push_tensor(L, u);
    return 3;
}

/* lu_solve(LU, pivots, B [, {left=true, adjoint=false}]) */
static int l_lu_solve(lua_State *L) {
    const char *op = "linalg.lu_solve";
    tn_tensor *lu = vm_check_tensor(L, 1), *piv = vm_check_tensor(L, 2);
    bool left = lt_opt_bool(L, 4, "left", true), adjoint = lt_opt_bool(L, 4, "adjoint", false);
    vm_prepare_args(L, 3, 3, op);
    tn_tensor *b = vm_to_tensor(L, 3, op), *x;
    if (left) {
        x = tn_linalg_lu_solve(lu, piv, b, adjoint);
    } else {  /* X A = B  <=>  A^T X^T = B^T */
        tn_tensor *bt = tn_transpose(b, -2, -1), *xt = bt ? tn_linalg_lu_solve(lu, piv, bt, !adjoint) : NULL;
        x = xt ? tn_transpose(xt, -2, -1) : NULL;
        tn_release(bt);
        tn_release(xt);
    }
    tn_release(b);
    vm_push_tensor(L, x);
    return 1;
}

/* cholesky(A [, {upper=}]) or cholesky(A, upper) */
static int l_cholesky(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    bool upper = lua_type(L, 2) == LUA_TTABLE ? lt_opt_bool(L, 2, "upper", false) : lua_toboolean(L, 2);
    tn_tensor *l = tn_linalg_cholesky(a);
    if (l && upper) {
        tn_tensor *u = tn_transpose(l, -2, -1);
        tn_release(l);
        l = u;
    }
    vm_push_tensor(L, l);
    return 1;
}

/* a string option given as the argument itself or as field `name` of a table */
static const char *str_opt(lua_State *L, int idx, const char *name, const char *def) {
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, name);
        const char *s = lua_isnil(L, -1) ? def : lua_tostring(L, -1);
        lua_pop(L, 1);
        return s ? s : def;
    }
    return luaL_optstring(L, idx, def);
}

static int l_qr(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    const char *m = str_opt(L, 2, "mode", "reduced");
    int mode = strcmp(m, "reduced") == 0 ? 0 : strcmp(m, "complete") == 0 ? 1 : strcmp(m, "r") == 0 ? 2 : -1;
    if (mode < 0) return luaL_error(L, "linalg.qr: mode must be 'reduced', 'complete' or 'r', got '%s'", m);
    tn_tensor *q, *r;
    if (tn_linalg_qr(a, mode, &q, &r) < 0) return vm_error(L, "linalg.qr");
    vm_push_tensor(L, q);
    vm_push_tensor(L, r);
    return 2;
}

static bool uplo_arg(lua_State *L, int idx, const char *op) {
    const char *u = str_opt(L, idx, "UPLO", "L");
    if (strcmp(u, "L") != 0 && strcmp(u, "U") != 0)
        luaL_error(L, "%s: UPLO must be 'L' or 'U', got '%s'", op, u);
    return u[0] == 'U';
}

static int l_eigh(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    bool upper = uplo_arg(L, 2, "linalg.eigh");
    tn_tensor *w, *v;
    if (tn_linalg_eigh(a, upper, true, &w, &v) < 0) return vm_error(L, "linalg.eigh");
    vm_push_tensor(L, w);
    vm_push_tensor(L, v);
    return 2;
}

static int l_eigvalsh(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    bool upper = uplo_arg(L, 2, "linalg.eigvalsh");
    tn_tensor *w;
    if (tn_linalg_eigh(a, upper, false, &w, NULL) < 0) return vm_error(L, "linalg.eigvalsh");
    vm_push_tensor(L, w);
    return 1;
}

static int l_svd(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    bool full = lua_type(L, 2) == LUA_TTABLE ? lt_opt_bool(L, 2, "full_matrices", true)
                : lua_isnoneornil(L, 2)      ? true
                                             : lua_toboolean(L, 2);
    tn_tensor *u, *s, *vh;
    if (tn_linalg_svd(a, full, true, &u, &s, &vh) < 0) return vm_error(L, "linalg.svd");
    vm_push_tensor(L, u);
    vm_push_tensor(L, s);
    vm_push_tensor(L, vh);
    return 3;
}

static int l_svdvals(lua_State *L) {
    tn_tensor *s;
    if (tn_linalg_svd(vm_check_tensor(L, 1), false, false, NULL, &s, NULL) < 0) return vm_error(L, "linalg.svdvals");
    vm_push_tensor(L, s);
    return 1;
}

static const lt_reg linalg_fns[] = {
    {"inv", l_inv, "ember.linalg.inv(A): the inverse of each square matrix of A (..., n, n); an error names a singular matrix."},
    {"det", l_det, "ember.linalg.det(A): the determinant of each square matrix of A (..., n, n), via LU."},
    {"slogdet", l_slogdet, "ember.linalg.slogdet(A) -> sign, logabsdet: det(A) = sign * exp(logabsdet), without overflow; (0, -inf) for a singular matrix."},
    {"solve", l_solve, "ember.linalg.solve(A, B): X with A X = B; A (..., n, n), B (..., n, k) or a (batch of) vector(s) (..., n); batch dims broadcast."},
    {"solve_triangular", l_solve_triangular, "ember.linalg.solve_triangular(A, B, {upper=, left=true, unitriangular=false}): X with A X = B (left) or X A = B for triangular A, reading only its upper or lower triangle; B (..., n, k), batch dims broadcast."},
    {"lu_factor", l_lu_factor, "ember.linalg.lu_factor(A) -> LU, pivots: the LU factorization with partial pivoting of A (..., m, n), packed as LAPACK's getrf; pivots int32, 1-based. No gradient."},
    {"lu", l_lu, "ember.linalg.lu(A) -> P, L, U: A = P L U with P a permutation, L unit lower-triangular (m, k), U upper-triangular (k, n). No gradient."},
    {"lu_solve", l_lu_solve, "ember.linalg.lu_solve(LU, pivots, B [, {left=true, adjoint=false}]): X with A X = B from lu_factor's output (X A = B when left=false, A^T when adjoint). No gradient."},
    {"cholesky", l_cholesky, "ember.linalg.cholesky(A [, {upper=false}]): lower-triangular L with A = L L^T for symmetric positive-definite A (reads A's lower triangle); upper=true gives L^T."},
    {"qr", l_qr, "ember.linalg.qr(A [, mode='reduced']) -> Q, R: A = Q R with orthonormal Q and upper-triangular R; mode 'reduced', 'complete' or 'r' (Q empty)."},
    {"eigh", l_eigh, "ember.linalg.eigh(A [, UPLO='L']) -> eigenvalues, eigenvectors: A = V diag(w) V^T for symmetric A, eigenvalues ascending, eigenvectors in the columns of V."},
    {"eigvalsh", l_eigvalsh, "ember.linalg.eigvalsh(A [, UPLO='L']): the eigenvalues of symmetric A, ascending."},
    {"svd", l_svd, "ember.linalg.svd(A [, full_matrices=true]) -> U, S, Vh: A = U diag(S) Vh, S descending; full_matrices=false gives the reduced U (m, k) and Vh (k, n)."},
    {"svdvals", l_svdvals, "ember.linalg.svdvals(A): the singular values of A (..., m, n), descending."},
    {NULL, NULL, NULL}};

/* torch's top-level names: module function and tensor method */
static const struct {
    const char *alias, *name, *doc;
} aliases[] = {
    {"inverse", "inv", "t:inverse() or ember.inverse(A): the matrix inverse, as ember.linalg.inv."},
    {"det", "det", "t:det() or ember.det(A): the determinant, as ember.linalg.det."},
    {"slogdet", "slogdet", "t:slogdet() or ember.slogdet(A) -> sign, logabsdet, as ember.linalg.slogdet."},
    {"cholesky", "cholesky", "t:cholesky([upper]) or ember.cholesky(A [, upper]): Cholesky factor, as ember.linalg.cholesky."},
    {"qr", "qr", "t:qr() or ember.qr(A) -> Q, R: reduced QR, as ember.linalg.qr."},
};

void lt_open_linalg(lua_State *L, int methods, int module) {
    lua_newtable(L);
    lt_register(L, linalg_fns);
    vm_set_doc(L, -1, "ember.linalg: dense linear algebra on LAPACK, as torch.linalg (batched over leading dims, "
                      "float32 and float64, with autograd).");
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        lua_getfield(L, -1, aliases[i].name);
        lua_CFunction f = lua_tocfunction(L, -1);
        lua_pop(L, 1);
        /* a closure (one dummy upvalue) is a value distinct from the light
         * function ember.linalg holds, so it carries its own doc */
        lua_pushboolean(L, 1);
        lua_pushcclosure(L, f, 1);
        vm_set_doc(L, -1, aliases[i].doc);
        lua_pushvalue(L, -1);
        lua_setfield(L, methods, aliases[i].alias);
        lua_setfield(L, module, aliases[i].alias);
    }
    lua_setfield(L, module, "linalg");
}
