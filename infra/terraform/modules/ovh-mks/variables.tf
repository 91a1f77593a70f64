variable "service_name" {
  type        = string
  description = "OVHcloud Public Cloud project ID."
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.service_name))
    error_message = "service_name must be the 32 hex character Public Cloud project ID."
  }
}

variable "name" {
  type        = string
  description = "Cluster name; prefix of the private network and node pool."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "OVHcloud region of the cluster, e.g. GRA9 or SBG5."
  default     = "GRA9"
  validation {
    condition     = can(regex("^[A-Z]{3}[0-9]{1,2}$", var.region))
    error_message = "region must be an OVHcloud region code such as GRA9."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Managed Kubernetes minor version."
  default     = "1.31"
  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be major.minor, e.g. \"1.31\"."
  }
}

variable "vlan_id" {
  type        = number
  description = "vRack VLAN of the private network; unique within the project."
  default     = 42
  validation {
    condition     = var.vlan_id >= 1 && var.vlan_id <= 4000
    error_message = "vlan_id must be between 1 and 4000."
  }
}

variable "subnet_cidr" {
  type        = string
  description = "CIDR of the nodes' private subnet."
  default     = "10.40.0.0/20"
  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a valid IPv4 CIDR."
  }
}

variable "node_flavor" {
  type        = string
  description = "Instance flavor of the node pool."
  default     = "b3-8"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]*-[0-9]+$", var.node_flavor))
    error_message = "node_flavor must be an OVHcloud flavor name such as b3-8."
  }
}

variable "node_pool" {
  type = object({
    min     = number
    max     = number
    desired = number
  })
  description = "Autoscaled node pool size."
  default     = { min = 3, max = 10, desired = 3 }
  validation {
    condition     = var.node_pool.min >= 1 && var.node_pool.min <= var.node_pool.desired && var.node_pool.desired <= var.node_pool.max
    error_message = "node_pool needs 1 <= min <= desired <= max."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API; OVH allows everyone when this is empty, so it never is."
  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must be non-empty valid CIDRs, never 0.0.0.0/0."
  }
}
