;; Optimizer updates applied in place to training state kept in a worker's WebAssembly memory
;; (ort-worker.js). ONNX has no in-place update and ORT's CPU build no optimizer kernel, so inside a
;; graph Adam costs 13 whole-tensor passes per parameter; here it is one pass reading p, g, m, v and
;; writing p, m, v. The arithmetic is the graph's (train/optimizers.ts, Adam.updateParam), op for op
;; in float32, so both paths give the same bits.
;;
;; Compiled to kernels-wasm.js by `npm run build:kernels` (scripts/build-kernels.ts, wabt); a test
;; checks that the committed bytes are this file's.
(module
  (memory (export "memory") 1)

  ;; Adam / AdamW on n float32 elements at byte offsets p, g, m, v (16-byte aligned):
  ;;   p' = p·decay                      (decoupled weight decay; decay = 1 without)
  ;;   g' = g + p·l2                     (Adam's L2 penalty; l2 = 0 without)
  ;;   m  = m·β1 + g'·(1−β1)
  ;;   v  = v·β2 + g'·g'·(1−β2)
  ;;   p  = p' − m / (√v / bc2Sqrt + ε) · stepSize
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $bc2Sqrt f32) (param $eps f32) (param $stepSize f32) (param $decay f32) (param $l2 f32)
    (local $i i32) (local $vecEnd i32) (local $end i32)
    (local $gv v128) (local $pv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ps f32) (local $ms f32) (local $vs f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vecEnd (i32.and (local.get $end) (i32.const -16)))
    (block $vecDone
      (loop $vec
        (br_if $vecDone (i32.ge_u (local.get $i) (local.get $vecEnd)))
        (local.set $pv (v128.load (i32.add (local.get $p) (local.get $i))))
        (local.set $gv
          (f32x4.add
            (v128.load (i32.add (local.get $g) (local.get $i)))
            (f32x4.mul (local.get $pv) (f32x4.splat (local.get $l2)))))
        (local.set $pv (f32x4.mul (local.get $pv) (f32x4.splat (local.get $decay))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (f32x4.splat (local.get $b1)))
            (f32x4.mul (local.get $gv) (f32x4.splat (local.get $omb1)))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (f32x4.splat (local.get $b2)))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $omb2)))))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vv))
        (v128.store (i32.add (local.get $p) (local.get $i))
          (f32x4.sub
            (local.get $pv)
            (f32x4.mul
              (f32x4.div
                (local.get $mv)
                (f32x4.add
                  (f32x4.div (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $bc2Sqrt)))
                  (f32x4.splat (local.get $eps))))
              (f32x4.splat (local.get $stepSize)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    ;; The last n mod 4 elements, one at a time (same operations).
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $ps (f32.load (i32.add (local.get $p) (local.get $i))))
        (local.set $gs
          (f32.add (f32.load (i32.add (local.get $g) (local.get $i))) (f32.mul (local.get $ps) (local.get $l2))))
        (local.set $ps (f32.mul (local.get $ps) (local.get $decay)))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $omb1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $omb2))))
        (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
        (f32.store (i32.add (local.get $p) (local.get $i))
          (f32.sub
            (local.get $ps)
            (f32.mul
              (f32.div
                (local.get $ms)
                (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $bc2Sqrt)) (local.get $eps)))
              (local.get $stepSize))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))))
