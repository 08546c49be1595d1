// Package agent is the worker side of MCMP, the mod_cluster Management
// Protocol: it registers one node (a backend) with one or more balancers,
// reports the node's load, and drains it on shutdown, so any backend (not
// only a Java one) can take part in a mod_cluster style cluster. It is
// used embedded in a Go service, or by the "barkeep agent" sidecar.
//
// # What it sends
//
// For each balancer (a manager listener address, given or heard by
// advertise), the agent behaves like mod_cluster's Java worker:
//
//	INFO /                      what does the balancer know of this node?
//	[REMOVE-APP /*]             only when the balancer holds a stale registration (other aliases)
//	CONFIG /                    JVMRoute, Host, Port, Type, Balancer, Domain ...
//	ENABLE-APP /                Alias=...&Context=... unless INFO shows them ENABLED
//	STATUS /                    Load=1..100 every Interval (default 10 s); -1 while the backend is down
//
// After any refusal other than SYNTAX, or when the balancer restarted (its
// STATUS id changed, or it forgot the node), it registers again from INFO
// on, retrying with exponential backoff (1/10 of the interval, doubling,
// at most the interval). After a SYNTAX refusal it stops talking to that
// balancer for good and logs why, as the Java worker does.
//
// On Shutdown it drains the node: DISABLE-APP (no new sessions), waits for
// the requests in flight through Middleware to end, STOP-APP repeated
// while the balancer answers Requests=N > 0 (or until the stop timeout),
// then REMOVE-APP for the contexts and REMOVE-APP /*.
//
// # The load model
//
// Load is computed as mod_cluster's DynamicLoadBalanceFactorProvider does:
// each metric's value ÷ its capacity, clamped to 0..1, averaged with the
// metrics' weights; the periods' loads are averaged with decay
// (Σ Lᵢ/Dⁱ ÷ Σ 1/Dⁱ over the current and up to History earlier periods);
// Load = 100 − round(100·L), clamped to 1..100. See Combine, History and
// Factor, and MetricKind for the metrics. The history starts with the
// first measurement, not with the Java worker's "fully loaded" periods.
//
// References: mod_cluster's ModClusterService, DefaultMCMPHandler,
// ResetRequestSourceImpl and DynamicLoadBalanceFactorProvider; the
// balancer side is described in docs/mcmp.md in the repository.
package agent
