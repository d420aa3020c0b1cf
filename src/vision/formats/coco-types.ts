/**
 * The COCO JSON data model (object detection / instance segmentation), as written by the COCO
 * dataset and read by pycocotools. Boxes are `[x, y, width, height]` in pixels, x/y at the top-left.
 */

/** A COCO box: top-left corner, width and height, in pixels. */
export type CocoBox = [number, number, number, number];

/** Run-length encoded mask in COCO's layout (column-major counts, starting with zeros). */
export interface CocoRle {
  size: [number, number]; // [height, width]
  counts: number[] | string;
}

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
  [key: string]: unknown;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  bbox: CocoBox;
  /** Object area in pixels (the mask's area for segmentation data sets). */
  area: number;
  iscrowd: number;
  segmentation?: CocoRle | number[][];
  [key: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoDataset {
  info?: Record<string, unknown>;
  licenses?: unknown[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** One detection in COCO's results format. */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  bbox: CocoBox;
  score: number;
}
