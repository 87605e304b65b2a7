/** pino-roll ships no type declarations: the part src/log-files.ts uses. */
declare module 'pino-roll' {
  interface PinoRollOptions {
    file: string;
    extension?: string;
    frequency?: 'daily' | 'hourly' | number;
    dateFormat?: string;
    size?: string | number;
    limit?: { count: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
    sync?: boolean;
    symlink?: boolean;
    minLength?: number;
  }
  export default function pinoRoll(options: PinoRollOptions): Promise<NodeJS.WritableStream>;
}
