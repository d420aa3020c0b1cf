// The speak page's audio worklet: microphone samples (Float32, the AudioContext's rate) → 16-bit PCM
// messages of `frame` samples each (100 ms), posted to the page, which sends them on the WebSocket.
// Int16Array uses the platform's byte order: little-endian on every platform browsers run on.
class Pcm16 extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frame = options.processorOptions.frame;
    this.buf = new Int16Array(this.frame);
    this.n = 0;
  }
  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        this.buf[this.n++] = Math.max(-32768, Math.min(32767, Math.round(channel[i] * 32768)));
        if (this.n === this.frame) {
          this.port.postMessage(this.buf.buffer, [this.buf.buffer]);
          this.buf = new Int16Array(this.frame);
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor('pcm16', Pcm16);
