/*
 * Promela model of ccmap's home-based directory protocol, transition for
 * transition the code in loader/lib/directory.c (inline names match the C
 * functions: dir_start = start(), dir_finish = finish(), dir_ack =
 * ccmap_dir_ack(), dir_node_down = ccmap_dir_node_down(), np_* =
 * ccmap_np_*()).  See tests/model/README.md for what is and is not modelled.
 *
 * 3 nodes, 2 pages.  home(p) = p mod 3 (ccmap_home_node with members
 * {0,1,2}, share 0): page 0 is homed at node 0, page 1 at node 1, node 2
 * homes nothing.  One FIFO channel per ordered node pair, including each
 * node's channel to itself (the agent's self queue), so messages between
 * different pairs are reordered arbitrarily.  One process per channel
 * delivers and handles its messages atomically (the agent is single
 * threaded); one process per node plays the applications.
 *
 * Page contents are a counter mod 4: writes increment it, every transfer
 * carries it, and the checks below require every holder to have the latest.
 *
 * Checked (tests/model/check.sh):
 *   - safety: assertions (every state transition precondition of the C
 *     code, plus inv_check() after every step: single writer / multiple
 *     readers counting grants in flight, holders have the latest data, the
 *     home never grants stale data), and no invalid end state (deadlock);
 *   - liveness: LTL "a pending request is eventually granted" per
 *     (node, page), under weak fairness;
 *   - with -DCRASH: node 2 may crash at any time; homes see the failure
 *     after delivering any prefix of what node 2 had sent; pages it owned
 *     revert to the home copy; the same safety properties must hold.
 */

#define N     3
#define P     2
#define NONE  3           /* no node */
#define CAP   4           /* channel capacity; sends assert it is never hit */
#define IX(n, p) ((n) * P + (p))
#define CH(a, b) ((a) * N + (b))
#define HOME(p) (p)       /* p mod 3 for p < 3 */
#define BIT(n) (1 << (n))
/* Which nodes' applications use which page (bit n = node n).  The full
 * model lets every node use both pages; check.sh also runs a reduced one
 * that is small enough for an exhaustive search (see README.md). */
#ifndef USERS0
#define USERS0 7
#endif
#ifndef USERS1
#define USERS1 7
#endif
#define USES(n, p) ((((p) == 0 -> USERS0 : USERS1) >> (n)) & 1)
#ifndef VMOD
#define VMOD  4           /* page contents: a counter modulo VMOD */
#endif

mtype = { READ_REQ, WRITE_REQ, GRANT, INVALIDATE, INV_ACK, DOWNGRADE,
          DOWNGRADE_ACK, FETCH, FETCH_ACK };

/* requester side, per (node, page) */
#define I 0
#define S 1
#define E 2
byte nst[N * P];          /* I / S / E */
byte pend[N * P];         /* 0, 1 = READ_REQ pending, 2 = WRITE_REQ pending */
byte val[N * P];          /* replica contents (counter mod 4); at the home
                             this is also the home copy */
byte gval[P];             /* latest contents */

/* ghost: grants in flight to (node, page) */
byte gS[N * P];
byte gE[N * P];

/* home side, per page (kept by HOME(p)) */
byte owner[P];
byte copyset[P];
bool busy[P];
byte cur_node[P];
mtype cur_type[P];
byte waiting[P];
byte data_from[P];
mtype data_fwd[P];
bool no_data[P];
bool req_gone[P];
chan q[P] = [N] of { byte };   /* FIFO of waiting requests: QPACK(node, write, claims) */
#define QPACK(n, w, c) ((n) + 4 * (w) + 8 * (c))

/* message: type, page, arg, value.  GRANT arg: bit0 data, bit1 E;
   WRITE_REQ/READ_REQ arg: requester holds S (have_version = its version) */
chan ch[N * N] = [CAP] of { mtype, byte };   /* type, PACK(p, a, v) */
#define PACK(p, a, v) ((p) + 2 * (a) + 8 * (v))

bool alive[N];
bool down_seen[N];        /* home saw node 2 go down (CRASH) */
bool crashed;

inline send(s_src, s_dst, s_t, s_p, s_a, s_v)
{
	if
	:: alive[s_dst] ->
		assert(len(ch[CH(s_src, s_dst)]) < CAP);
		ch[CH(s_src, s_dst)]!s_t, PACK(s_p, s_a, s_v);
		if
		:: s_t == GRANT && (s_a & 2) -> gE[IX(s_dst, s_p)]++
		:: s_t == GRANT && !(s_a & 2) -> gS[IX(s_dst, s_p)]++
		:: else -> skip
		fi
	:: else -> skip   /* connection to a dead node: lost */
	fi
}

/* single writer / multiple readers with in-flight grants, fresh data */
inline inv_check()
{
	for (zip : 0 .. P - 1) {
		for (zia : 0 .. N - 1) {
			if
			:: alive[zia] ->
				assert(gS[IX(zia, zip)] + gE[IX(zia, zip)] <= 1);
				assert(nst[IX(zia, zip)] == I || val[IX(zia, zip)] == gval[zip]);
				if
				:: nst[IX(zia, zip)] == E || gE[IX(zia, zip)] > 0 ->
					for (zib : 0 .. N - 1) {
						assert(zib == zia || !alive[zib] ||
						       (nst[IX(zib, zip)] == I && gS[IX(zib, zip)] == 0 &&
						        gE[IX(zib, zip)] == 0))
					}
				:: else -> skip
				fi
			:: else -> skip
			fi
		}
	}
	zia = 0; zib = 0; zip = 0
}

/* ---- home side (directory.c) ------------------------------------------ */

inline grant(g_h, g_p, g_r, g_e, g_data)
{
	if
	:: g_data -> assert(val[IX(g_h, g_p)] == gval[g_p])   /* home copy is current */
	:: else -> skip
	fi;
	zgv = (g_data -> val[IX(g_h, g_p)] : 0);
	send(g_h, g_r, GRANT, g_p, (g_e -> 2 : 0) + (g_data -> 1 : 0), zgv);
	zgv = 0
}

inline dir_finish(f_h, f_p)
{
	assert(busy[f_p] && waiting[f_p] == 0 && data_from[f_p] == NONE && owner[f_p] == NONE);
	if
	:: cur_type[f_p] == READ_REQ ->
		if
		:: !req_gone[f_p] ->
			copyset[f_p] = copyset[f_p] | BIT(cur_node[f_p]);
			grant(f_h, f_p, cur_node[f_p], 0, 1)
		:: else -> skip
		fi
	:: else ->
		assert((copyset[f_p] & ~BIT(cur_node[f_p])) == 0);   /* I1 */
		copyset[f_p] = 0;
		if
		:: !req_gone[f_p] ->
			owner[f_p] = cur_node[f_p];
			grant(f_h, f_p, cur_node[f_p], 1, !no_data[f_p])
		:: else -> skip
		fi
	fi;
	busy[f_p] = 0;
	/* normalise fields that are dead while idle (state-space reduction) */
	cur_node[f_p] = 0; cur_type[f_p] = 0; no_data[f_p] = 0; req_gone[f_p] = 0;
	data_fwd[f_p] = 0
}

inline dir_start(st_h, st_p, st_r, st_t, st_claims)
{
	assert(!busy[st_p]);
	assert(owner[st_p] != st_r);     /* C answers ERROR; correct requesters never ask */
	busy[st_p] = 1;
	cur_node[st_p] = st_r;
	cur_type[st_p] = st_t;
	waiting[st_p] = 0;
	data_from[st_p] = NONE;
	no_data[st_p] = 0;
	req_gone[st_p] = 0;
	if
	:: owner[st_p] != NONE ->
		assert(copyset[st_p] == 0);
		data_from[st_p] = owner[st_p];
		data_fwd[st_p] = (st_t == READ_REQ -> DOWNGRADE : FETCH);
		waiting[st_p] = BIT(owner[st_p]);
		send(st_h, owner[st_p], data_fwd[st_p], st_p, 0, 0)
	:: else ->
		if
		:: st_t == READ_REQ ->
			no_data[st_p] = ((copyset[st_p] & BIT(st_r)) != 0) && st_claims;
			copyset[st_p] = copyset[st_p] | BIT(st_r);
			grant(st_h, st_p, st_r, 0, !no_data[st_p]);
			busy[st_p] = 0;
			cur_node[st_p] = 0; cur_type[st_p] = 0; no_data[st_p] = 0
		:: else ->
			no_data[st_p] = ((copyset[st_p] & BIT(st_r)) != 0) && st_claims;
			waiting[st_p] = copyset[st_p] & ~BIT(st_r);
			if :: waiting[st_p] & BIT(0) -> send(st_h, 0, INVALIDATE, st_p, 0, 0) :: else fi;
			if :: waiting[st_p] & BIT(1) -> send(st_h, 1, INVALIDATE, st_p, 0, 0) :: else fi;
			if :: waiting[st_p] & BIT(2) -> send(st_h, 2, INVALIDATE, st_p, 0, 0) :: else fi;
			if
			:: waiting[st_p] == 0 -> dir_finish(st_h, st_p)
			:: else -> skip
			fi
		fi
	fi
}

inline run_queue(rq_h, rq_p)
{
	do
	:: !busy[rq_p] && len(q[rq_p]) > 0 ->
		q[rq_p]?zqx;
		zqn = zqx & 3;
		zqt = ((zqx & 4) -> WRITE_REQ : READ_REQ);
		zqc = (zqx >> 3) & 1;
		assert(alive[zqn] || !down_seen[rq_h]);   /* home's view: node_down purges the queue */
		dir_start(rq_h, rq_p, zqn, zqt, zqc)
	:: else -> break
	od;
	zqx = 0; zqn = 0; zqt = 0; zqc = 0
}

inline dir_request(rr_h, rr_src, rr_t, rr_p, rr_claims)
{
	if
	:: busy[rr_p] ->
		/* I3: one request per node per page */
		assert(!(q[rr_p]??[eval(QPACK(rr_src, 0, 0))]) && !(q[rr_p]??[eval(QPACK(rr_src, 1, 0))]) &&
		       !(q[rr_p]??[eval(QPACK(rr_src, 0, 1))]) && !(q[rr_p]??[eval(QPACK(rr_src, 1, 1))]));
		assert(cur_node[rr_p] != rr_src || req_gone[rr_p]);
		q[rr_p]!QPACK(rr_src, rr_t == WRITE_REQ, rr_claims)
	:: else ->
		dir_start(rr_h, rr_p, rr_src, rr_t, rr_claims);
		run_queue(rr_h, rr_p)
	fi
}

inline dir_ack(da_h, da_src, da_t, da_p, da_v)
{
	assert(busy[da_p] && (waiting[da_p] & BIT(da_src)));
	assert(da_t == (da_src == data_from[da_p] ->
	             (data_fwd[da_p] == DOWNGRADE -> DOWNGRADE_ACK : FETCH_ACK) : INV_ACK));
	waiting[da_p] = waiting[da_p] & ~BIT(da_src);
	if
	:: da_t == INV_ACK ->
		assert(copyset[da_p] & BIT(da_src));
		copyset[da_p] = copyset[da_p] & ~BIT(da_src)
	:: else ->
		assert(owner[da_p] == da_src && copyset[da_p] == 0);
		if
		:: da_src != da_h ->                       /* STORE into the home replica */
			assert(nst[IX(da_h, da_p)] == I);
			val[IX(da_h, da_p)] = da_v
		:: else -> skip                      /* home's own data is in place */
		fi;
		owner[da_p] = NONE;
		if
		:: da_t == DOWNGRADE_ACK -> copyset[da_p] = copyset[da_p] | BIT(da_src)
		:: else -> skip
		fi;
		data_from[da_p] = NONE;
		data_fwd[da_p] = 0
	fi;
	if
	:: waiting[da_p] == 0 ->
		dir_finish(da_h, da_p);
		run_queue(da_h, da_p)
	:: else -> skip
	fi
}

inline dir_node_down(nd_h, nd_x, nd_p)
{
	copyset[nd_p] = copyset[nd_p] & ~BIT(nd_x);
	if
	:: busy[nd_p] ->
		/* drop nd_x's queued requests, keeping FIFO order */
		zk = len(q[nd_p]);
		do
		:: zk > 0 ->
			q[nd_p]?zkx;
			if :: (zkx & 3) != nd_x -> q[nd_p]!zkx :: else -> skip fi;
			zk--
		:: else -> break
		od;
		if :: cur_node[nd_p] == nd_x -> req_gone[nd_p] = 1 :: else -> skip fi;
		if
		:: waiting[nd_p] & BIT(nd_x) ->
			waiting[nd_p] = waiting[nd_p] & ~BIT(nd_x);
			if :: data_from[nd_p] == nd_x -> data_from[nd_p] = NONE; data_fwd[nd_p] = 0 :: else -> skip fi
		:: else -> skip
		fi
	:: else -> assert(len(q[nd_p]) == 0)
	fi;
	if
	:: owner[nd_p] == nd_x ->
		owner[nd_p] = NONE;
		gval[nd_p] = val[IX(nd_h, nd_p)]              /* REVERT to the home copy */
	:: else -> skip
	fi;
	if
	:: busy[nd_p] && waiting[nd_p] == 0 ->
		dir_finish(nd_h, nd_p);
		run_queue(nd_h, nd_p)
	:: else -> skip
	fi;
	zk = 0; zkx = 0
}

/* ---- requester side (directory.c, ccmap_np_*) -------------------------- */

inline np_grant(ng_n, ng_src, ng_p, ng_a, ng_v)
{
	assert(pend[IX(ng_n, ng_p)] != 0);
	assert((ng_a & 2) == (pend[IX(ng_n, ng_p)] == 2 -> 2 : 0));   /* mode matches request */
	if
	:: ng_a & 2 -> gE[IX(ng_n, ng_p)]-- :: else -> gS[IX(ng_n, ng_p)]--
	fi;
	if
	:: ng_a & 1 ->
		if
		:: ng_src == ng_n -> assert(ng_v == val[IX(ng_n, ng_p)])   /* self grant: replica unchanged */
		:: else -> skip
		fi;
		val[IX(ng_n, ng_p)] = ng_v                           /* INSTALL */
	:: else ->
		assert((ng_a & 2) && nst[IX(ng_n, ng_p)] == S)       /* upgrade in place */
	fi;
	nst[IX(ng_n, ng_p)] = ((ng_a & 2) -> E : S);
	pend[IX(ng_n, ng_p)] = 0;
	/* the waiting fault retries and performs its access */
	if
	:: nst[IX(ng_n, ng_p)] == E ->
		gval[ng_p] = (gval[ng_p] + 1) % VMOD;
		val[IX(ng_n, ng_p)] = gval[ng_p]
	:: else -> assert(val[IX(ng_n, ng_p)] == gval[ng_p])
	fi
}

/* A non-home replica's contents are dead once its page is Invalid (the
 * next grant overwrites them): normalise (state-space reduction).  The
 * home's replica is the home copy and is kept. */
#define DEAD_VAL(n, p) if :: (n) != HOME(p) -> val[IX(n, p)] = 0 :: else -> skip fi

inline np_forward(nf_n, nf_src, nf_t, nf_p)
{
	if
	:: nf_t == INVALIDATE ->
		assert(nst[IX(nf_n, nf_p)] == S);
		nst[IX(nf_n, nf_p)] = I;                          /* ZAP */
		send(nf_n, nf_src, INV_ACK, nf_p, 0, 0);
		DEAD_VAL(nf_n, nf_p)
	:: nf_t == DOWNGRADE ->
		assert(nst[IX(nf_n, nf_p)] == E);
		nst[IX(nf_n, nf_p)] = S;                          /* MKCLEAN + READ */
		send(nf_n, nf_src, DOWNGRADE_ACK, nf_p, 0, val[IX(nf_n, nf_p)])
	:: nf_t == FETCH ->
		assert(nst[IX(nf_n, nf_p)] == E);
		nst[IX(nf_n, nf_p)] = I;                          /* ZAP + READ */
		send(nf_n, nf_src, FETCH_ACK, nf_p, 0, val[IX(nf_n, nf_p)]);
		DEAD_VAL(nf_n, nf_p)
	fi
}

inline handle(hd_dst, hd_src, hd_t, hd_p, hd_a, hd_v)
{
	if
	:: hd_t == READ_REQ || hd_t == WRITE_REQ ->
		assert(HOME(hd_p) == hd_dst);
		dir_request(hd_dst, hd_src, hd_t, hd_p, hd_a)
	:: hd_t == INV_ACK || hd_t == DOWNGRADE_ACK || hd_t == FETCH_ACK ->
		assert(HOME(hd_p) == hd_dst);
		dir_ack(hd_dst, hd_src, hd_t, hd_p, hd_v)
	:: hd_t == GRANT -> np_grant(hd_dst, hd_src, hd_p, hd_a, hd_v)
	:: hd_t == INVALIDATE || hd_t == DOWNGRADE || hd_t == FETCH -> np_forward(hd_dst, hd_src, hd_t, hd_p)
	fi
}

/* One process per ordered pair: the connection's reader. */
/* Scratch variables: only used inside one d_step and reset to 0 at its
 * end.  Hidden (kept out of the state vector) except in breadth-first
 * runs, which do not support hidden variables; as they are always 0
 * between steps this changes the vector size, not the state count. */
#ifdef BFS_RUN
#define HIDDEN
#else
#define HIDDEN hidden
#endif
HIDDEN mtype zt;
HIDDEN byte zx, zp, za, zv, zgv, zia, zib, zip, zqx, zqn, zqc, zk, zkx;
HIDDEN mtype zqt;

proctype Chan(byte src; byte dst)
{
end:	do
	:: d_step {
		ch[CH(src, dst)]?zt, zx ->
		zp = zx & 1; za = (zx >> 1) & 3; zv = zx >> 3;
		if
		:: alive[dst] && (alive[src] || !down_seen[dst]) ->
			handle(dst, src, zt, zp, za, zv);
			inv_check()
		:: else -> skip   /* dead receiver, or sender already declared down */
		fi;
		zt = 0; zx = 0; zp = 0; za = 0; zv = 0
	   }
#ifdef CRASH
	:: d_step {
		/* home dst notices the crash of src after any prefix of its frames */
		dst != src && !alive[src] && alive[dst] && !down_seen[dst] ->
		down_seen[dst] = 1;
		if
		:: dst < P -> dir_node_down(dst, src, dst)   /* HOME(p) == p */
		:: else -> skip
		fi;
		inv_check()
	   }
#endif
	od
}

#define APP_PAGE(ap_n, ap_p) \
	:: d_step { \
		alive[ap_n] && USES(ap_n, ap_p) && pend[IX(ap_n, ap_p)] == 0 && nst[IX(ap_n, ap_p)] == I -> \
		pend[IX(ap_n, ap_p)] = 1; \
		send(ap_n, HOME(ap_p), READ_REQ, ap_p, 0, 0); \
		inv_check() \
	   } \
	:: d_step { \
		alive[ap_n] && USES(ap_n, ap_p) && pend[IX(ap_n, ap_p)] == 0 && nst[IX(ap_n, ap_p)] != E -> \
		pend[IX(ap_n, ap_p)] = 2; \
		send(ap_n, HOME(ap_p), WRITE_REQ, ap_p, nst[IX(ap_n, ap_p)] == S, 0); \
		inv_check() \
	   } \
	LOCAL_STORE(ap_n, ap_p)
#ifdef NO_LOCAL_STORES
#define LOCAL_STORE(ap_n, ap_p)
#else
#define LOCAL_STORE(ap_n, ap_p) \
	:: d_step { \
		alive[ap_n] && nst[IX(ap_n, ap_p)] == E ->         /* local store, no fault */ \
		gval[ap_p] = (gval[ap_p] + 1) % VMOD; \
		val[IX(ap_n, ap_p)] = gval[ap_p]; \
		inv_check() \
	   }
#endif

/* The applications of node n: faults and local stores on both pages. */
proctype App(byte n)
{
	do
	APP_PAGE(n, 0)
	APP_PAGE(n, 1)
#ifdef CRASH
	:: d_step {
		n == 2 && alive[n] && !crashed ->
		crashed = 1;
		alive[n] = 0;
		/* its connections reset: frames to it are lost */
		for (zia : 0 .. N - 1) {
			do
			:: len(ch[CH(zia, n)]) > 0 -> ch[CH(zia, n)]?_, _
			:: else -> break
			od
		}
		for (zip : 0 .. P - 1) {
			nst[IX(n, zip)] = I; pend[IX(n, zip)] = 0; val[IX(n, zip)] = 0;
			gS[IX(n, zip)] = 0; gE[IX(n, zip)] = 0
		}
		zia = 0; zip = 0
	   }
	:: !alive[n] -> break
#endif
	od
}

init {
	atomic {
		byte i, j;
		for (i : 0 .. N - 1) { alive[i] = 1 }
		for (i : 0 .. P - 1) { owner[i] = NONE; data_from[i] = NONE }
		for (i : 0 .. N - 1) {
			for (j : 0 .. N - 1) { run Chan(i, j) }
		}
		for (i : 0 .. N - 1) { run App(i) }
	}
}

/* Liveness: a pending request is eventually granted (checked per
 * (node, page) with weak fairness; see check.sh). */
#define pending(n, p) (pend[IX(n, p)] != 0)
ltl live20 { [] (pending(2, 0) -> <> !pending(2, 0)) }
ltl live01 { [] (pending(0, 1) -> <> !pending(0, 1)) }
ltl live00 { [] (pending(0, 0) -> <> !pending(0, 0)) }
ltl live11 { [] (pending(1, 1) -> <> !pending(1, 1)) }
ltl live10 { [] (pending(1, 0) -> <> !pending(1, 0)) }
ltl live21 { [] (pending(2, 1) -> <> !pending(2, 1)) }
