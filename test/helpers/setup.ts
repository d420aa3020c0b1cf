/** Runs in every test file (vitest setupFiles): temp folders made with tempDir() go away after the file. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

afterAll(() => removeTempDirs());
