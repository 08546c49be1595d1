package registry

// index is an immutable map from strings to V that is cheap to copy with
// one key changed: the keys are spread over indexShards small Go maps, and
// a change copies the shard array and the one shard it touches. With n keys
// a change costs O(indexShards + n/indexShards) instead of the O(n) of
// cloning one map, which keeps a snapshot update with 10,000 nodes in
// microseconds. A lookup hashes the key once more than a plain map does.
// The zero value is an empty index.
type index[V any] struct {
	shards *[indexShards]map[string]V // nil when empty; never modified once shared
	n      int
}

const indexShards = 256

// shardOf is FNV-1a of key reduced to a shard. It needs no seed: keys that
// collide only make their shard, and so changes to it, larger.
func shardOf(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % indexShards)
}

// Len returns the number of keys.
func (x index[V]) Len() int { return x.n }

// Get returns the value of key and whether it is present.
func (x index[V]) Get(key string) (V, bool) {
	if x.shards == nil {
		var zero V
		return zero, false
	}
	v, ok := x.shards[shardOf(key)][key]
	return v, ok
}

// With returns a copy of x where key holds v; x is unchanged.
func (x index[V]) With(key string, v V) index[V] {
	var shards [indexShards]map[string]V
	if x.shards != nil {
		shards = *x.shards
	}
	i := shardOf(key)
	m := make(map[string]V, len(shards[i])+1)
	for k, old := range shards[i] {
		m[k] = old
	}
	if _, ok := m[key]; !ok {
		x.n++
	}
	m[key] = v
	shards[i] = m
	x.shards = &shards
	return x
}

// Without returns a copy of x without key; x is unchanged.
func (x index[V]) Without(key string) index[V] {
	if _, ok := x.Get(key); !ok {
		return x
	}
	shards := *x.shards
	i := shardOf(key)
	m := make(map[string]V, len(shards[i]))
	for k, old := range shards[i] {
		if k != key {
			m[k] = old
		}
	}
	shards[i] = m
	x.shards, x.n = &shards, x.n-1
	return x
}

// All calls fn for every key and value, in no particular order, until fn
// returns false.
func (x index[V]) All(fn func(string, V) bool) {
	if x.shards == nil {
		return
	}
	for _, m := range x.shards {
		for k, v := range m {
			if !fn(k, v) {
				return
			}
		}
	}
}

// indexOf builds an index from scratch in O(len(keys)); key and value
// give each element's key and value. Later duplicates win.
func indexOf[E, V any](elems []E, key func(E) string, value func(E) V) index[V] {
	var x index[V]
	if len(elems) == 0 {
		return x
	}
	shards := new([indexShards]map[string]V)
	for _, e := range elems {
		k := key(e)
		i := shardOf(k)
		if shards[i] == nil {
			shards[i] = map[string]V{}
		}
		if _, dup := shards[i][k]; !dup {
			x.n++
		}
		shards[i][k] = value(e)
	}
	x.shards = shards
	return x
}
