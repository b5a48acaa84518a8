/**
 * The engine's invariant: only the owning CPU writes its TLB. With `--debug`
 * (the default) every CPU worker declares which CPU it is
 * (setTlbThreadOwner) and every TLB mutation checks it; INVLPGB and RAR,
 * which invalidate other CPUs' TLBs, must pass the check (each target applies
 * the invalidation itself).
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig } from '../src/config/config.js';
import { Tlb, TlbOwnerError, setTlbThreadOwner } from '../src/engine/tlb.js';
import { NO_RACES } from './helpers.js';
import { TLB_ENTRY_WORDS } from '../src/engine/tlb.js';

describe('only the owning CPU writes its TLB', () => {
  it('a TLB checked for owner 1 refuses writes from a thread declared CPU 0, and accepts them from CPU 1', () => {
    const words = new Int32Array(new SharedArrayBuffer(4 * 4 * 2 * TLB_ENTRY_WORDS));
    const tlb = new Tlb(words, 4, 2, 0, 1);
    setTlbThreadOwner(0);
    expect(() => tlb.reset()).toThrow(TlbOwnerError);
    expect(() => tlb.fill(3, 1, 7, true, false, 0)).toThrow(/CPU 1's TLB written from CPU 0's thread/);
    expect(() => tlb.flushAll()).toThrow(TlbOwnerError);
    expect(() => tlb.flushAsid(1)).toThrow(TlbOwnerError);
    expect(() => tlb.invalidatePage(3, 1)).toThrow(TlbOwnerError);
    setTlbThreadOwner(1);
    tlb.reset();
    const e = tlb.fill(3, 1, 7, true, false, 0);
    expect(tlb.lookup(3, 1)).toBe(e);
    expect(tlb.flushAll()).toBe(1);
    setTlbThreadOwner(-1);
    // Unchecked TLBs (owner -1: unit tests, the bench) accept any thread.
    expect(new Tlb(words, 4, 2).flushAll()).toBe(0);
  });

  for (const protocol of ['invlpgb', 'rar', 'luf', 'context-reset'] as const) {
    it(
      `${protocol}: a debug run on 8 CPUs (every TLB write checked) completes without a TlbOwnerError`,
      async () => {
        const r = await simulate(resolveConfig({ cpus: 8, pages: 64, batch: 16, roPages: 32, protocol, ops: 500, debug: true }));
        expect(r.status, JSON.stringify(r.failure)).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
      },
      60_000,
    );
  }
});
