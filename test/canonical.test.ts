/**
 * The one canonical form of arguments: RFC 8785 (JCS) bytes checked against the RFC's own test
 * vectors, a prototype-free copy, `__proto__` refused, nesting bounded without ever overflowing
 * the stack; and the keyed argument hash built on it (one secret shared by every replica through
 * Redis, or AIRLOCK_HASH_SECRET).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentsHasher, keyedArgumentsHash } from '../src/state/arguments-hasher.js';
import { createRedis, waitForRedis, type Redis } from '../src/state/redis.js';
import { canonicalArguments, canonicalJson } from '../src/util/canonical.js';
import { connect } from './helpers/audit.js';
import { startRedisServer } from './helpers/redis-server.js';

/** A double from its IEEE 754 bits, as RFC 8785 Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('RFC 8785 canonical JSON', () => {
  it('serialises the numbers of Appendix B exactly as the RFC lists them', () => {
    const samples: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, expected] of samples) expect(canonicalJson(fromBits(bits)), bits).toBe(expected);
    for (const bits of ['7fffffffffffffff', '7ff0000000000000']) expect(() => canonicalJson(fromBits(bits))).toThrow(/which JSON cannot carry/);
  });

  it('produces the canonical form of the RFC’s example (section 3.2.2)', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts member names by UTF-16 code units (section 3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\u{1F600}': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\u{1F600}":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('hashes a stored "__proto__" member like any other (it never vanishes into a prototype)', () => {
    const parsed = JSON.parse('{"a": 1, "__proto__": {"b": 2}}') as unknown;
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"b":2},"a":1}');
  });
});

describe('canonicalArguments', () => {
  it('returns a null-prototype copy in canonical order and its RFC 8785 bytes', () => {
    const result = canonicalArguments({ z: 1, a: { y: [1, { c: true, b: null }], x: 'é' }, constructor: 'plain', prototype: 1 });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.json).toBe('{"a":{"x":"é","y":[1,{"b":null,"c":true}]},"constructor":"plain","prototype":1,"z":1}');
    expect(Object.getPrototypeOf(result.value)).toBeNull();
    expect(Object.getPrototypeOf(result.value['a'])).toBeNull();
    expect(result.value['constructor']).toBe('plain');
    expect(canonicalJson(result.value)).toBe(result.json);
  });

  it('refuses a "__proto__" member at any depth, naming its path', () => {
    const result = canonicalArguments(JSON.parse('{"params": {"list": [{"__proto__": {"admin": true}}]}}'));
    expect(result).toEqual({
      ok: false,
      violation: {
        path: 'params.list.0.__proto__',
        rule: 'no member named "__proto__"',
        problem: 'is a member named "__proto__", which JSON and JavaScript read differently; rename or remove it',
      },
    });
  });

  it('refuses nesting past the limit, even 100,000 levels deep, without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(canonicalArguments({ deep })).toMatchObject({ ok: false, violation: { rule: 'nesting at most 64 levels' } });
    let levels64: unknown = 1;
    for (let i = 0; i < 64; i += 1) levels64 = { n: levels64 };
    expect(canonicalArguments(levels64).ok).toBe(true);
    expect(canonicalArguments({ n: levels64 })).toMatchObject({ ok: false, violation: { path: `n${'.n'.repeat(63)}` } });
    expect(canonicalArguments({ n: levels64 }, { maxDepth: 65 }).ok).toBe(true);
  });

  it('refuses what is not a JSON object', () => {
    for (const value of [null, [], 'x', 3]) expect(canonicalArguments(value).ok).toBe(false);
  });
});

describe('the keyed argument hash', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await connect();
  });
  afterAll(() => redis.disconnect());

  it('gives every replica the same secret through Redis (the first one to start generates it)', async () => {
    const prefix = `test-${randomUUID()}:`;
    const one = new ArgumentsHasher({ redis, prefix });
    const two = new ArgumentsHasher({ redis, prefix });
    await Promise.all([one.start(), two.start()]);
    const json = canonicalJson({ params: { job_id: 1 } });
    const hash = await one.hash(json);
    expect(hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(await two.hash(json)).toBe(hash);
    expect(await redis.get(`${prefix}hash-secret`)).toMatch(/^[0-9a-f]{64}$/);
    expect(await new ArgumentsHasher({ redis, prefix: `test-${randomUUID()}:` }).hash(json)).not.toBe(hash);
  });

  it('uses AIRLOCK_HASH_SECRET when set (Redis untouched), refuses a short one, and a new secret changes every hash', async () => {
    const prefix = `test-${randomUUID()}:`;
    const secret = 'a'.repeat(32);
    const hasher = new ArgumentsHasher({ redis, prefix, secret });
    await hasher.start();
    const json = canonicalJson({ pin: '4831' });
    expect(await hasher.hash(json)).toBe(keyedArgumentsHash(Buffer.from(secret), json));
    expect(await redis.exists(`${prefix}hash-secret`)).toBe(0);
    expect(await new ArgumentsHasher({ redis, prefix, secret: 'b'.repeat(32) }).hash(json)).not.toBe(await hasher.hash(json));
    expect(() => new ArgumentsHasher({ redis, prefix, secret: 'short' })).toThrow(/at least 32 characters/);
  });

  it('fails closed while the secret cannot be read from Redis, and hashes once Redis is back', async () => {
    const server = await startRedisServer();
    const own = createRedis(server.url, { name: 'hasher-outage', mode: 'fail-fast' });
    try {
      await server.stop();
      const hasher = new ArgumentsHasher({ redis: own, prefix: `test-${randomUUID()}:` });
      await hasher.start(); // logged, not thrown: the gateway starts without Redis
      await expect(hasher.hash('{}')).rejects.toMatchObject({ code: 'state_store_unavailable' });
      await server.restart();
      expect(await waitForRedis(own, 10_000)).toBe(true);
      expect(await hasher.hash('{}')).toMatch(/^hmac-sha256:/);
    } finally {
      own.disconnect();
      await server.stop();
    }
  });
});
