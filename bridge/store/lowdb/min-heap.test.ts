/** MinHeap gives values back in sorted order whatever the mix of pushes, pops and rebuilds. */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { MinHeap } from './min-heap.ts';

const byNumber = (a: number, b: number): number => a - b;

it('pops values in ascending order, duplicates included', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 300 }), (values) => {
      const heap = new MinHeap(byNumber);
      for (const v of values) heap.push(v);
      expect(heap.size).toBe(values.length);
      const out: number[] = [];
      while (heap.size > 0) {
        expect(heap.peek()).toBe(heap.peek());
        out.push(heap.pop()!);
      }
      expect(out).toEqual([...values].sort(byNumber));
      expect(heap.pop()).toBeUndefined();
      expect(heap.peek()).toBeUndefined();
    }),
  );
});

it('keeps the minimum on top through interleaved pushes, pops and replaceAll', () => {
  const op = fc.oneof(
    fc.record({ push: fc.integer({ min: 0, max: 100 }) }),
    fc.constant({ pop: true as const }),
    fc.record({ replaceAll: fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 40 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const heap = new MinHeap(byNumber);
      let model: number[] = [];
      for (const o of ops) {
        if ('push' in o) {
          heap.push(o.push);
          model.push(o.push);
        } else if ('pop' in o) {
          model.sort(byNumber);
          expect(heap.pop()).toBe(model.shift());
        } else {
          heap.replaceAll(o.replaceAll);
          model = [...o.replaceAll];
        }
        expect(heap.size).toBe(model.length);
        expect(heap.peek()).toBe(model.length === 0 ? undefined : Math.min(...model));
      }
    }),
  );
});
