// The globals the core may use: what Node (20 and later) and browsers both provide, declared
// only as far as the core uses them. tsconfig.core.json checks the core against this file and
// ES2022 alone (no DOM, no Node types), so a `Buffer`, `process`, `document` or `node:` import
// in the core does not build. The Node and browser checks use their platform's own
// declarations instead and leave this file out: the two would collide.

declare class TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>;
}

declare class TextDecoder {
  decode(input?: Uint8Array): string;
}

declare function btoa(data: string): string;

declare const performance: { now(): number };

interface AbortSignal {
  readonly aborted: boolean;
}

interface MessagePort {
  onmessage: ((ev: { readonly data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

declare class MessageChannel {
  readonly port1: MessagePort;
  readonly port2: MessagePort;
}

declare namespace WebAssembly {
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  class Global {
    readonly value: unknown;
  }
  class Instance {
    readonly exports: Record<string, unknown>;
  }
  type Imports = Record<string, Record<string, unknown>>;
  function validate(bytes: Uint8Array<ArrayBuffer>): boolean;
  function instantiate(bytes: Uint8Array<ArrayBuffer>, imports?: Imports): Promise<{ readonly instance: Instance }>;
}
